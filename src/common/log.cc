#include "originwatch/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace originwatch {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};

// A JSON string body: quotes, backslashes and control characters escaped;
// other bytes pass as they are (messages carry UTF-8 or ASCII).
void AppendJsonString(std::string* out, std::string_view s) {
  *out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c == '\r') {
      *out += "\\r";
    } else if (c == '\t') {
      *out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", u);
      *out += buf;
    } else {
      *out += c;
    }
  }
  *out += '"';
}

}  // namespace

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  if (text == "debug") *out = LogLevel::kDebug;
  else if (text == "info") *out = LogLevel::kInfo;
  else if (text == "warn") *out = LogLevel::kWarn;
  else if (text == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

bool ParseLogFormat(std::string_view text, LogFormat* out) {
  if (text == "text") *out = LogFormat::kText;
  else if (text == "json") *out = LogFormat::kJson;
  else return false;
  return true;
}

void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }

void Log(LogLevel level, std::string_view origin, std::string_view message) { Log(level, origin, {}, message); }

void Log(LogLevel level, std::string_view origin, std::string_view variant, std::string_view message) {
  if (!LogEnabled(level)) return;
  static const char* kNames[] = {"debug", "info ", "warn ", "error"};
  static const char* kJsonNames[] = {"debug", "info", "warn", "error"};
  auto now = std::chrono::system_clock::now();
  time_t t = std::chrono::system_clock::to_time_t(now);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string line;
  line.reserve(64 + message.size());
  if (g_format.load(std::memory_order_relaxed) == static_cast<int>(LogFormat::kJson)) {
    line += "{\"time\":\"";
    line += ts;
    line += "\",\"level\":\"";
    line += kJsonNames[static_cast<int>(level)];
    line += "\",\"msg\":";
    AppendJsonString(&line, message);
    if (!origin.empty()) {
      line += ",\"origin\":";
      AppendJsonString(&line, origin);
    }
    if (!variant.empty()) {
      line += ",\"variant\":";
      AppendJsonString(&line, variant);
    }
    line += "}\n";
  } else {
    line += ts;
    line += ' ';
    line += kNames[static_cast<int>(level)];
    line += ' ';
    if (!origin.empty()) {
      line += "origin=";
      line += origin;
      line += ' ';
    }
    for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
    line += '\n';
  }
  ssize_t unused = ::write(STDERR_FILENO, line.data(), line.size());
  (void)unused;
}

}  // namespace originwatch
