#include "originwatch/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace originwatch {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
}

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

void Log(LogLevel level, std::string_view origin, std::string_view message) {
  if (!LogEnabled(level)) return;
  static const char* kNames[] = {"debug", "info ", "warn ", "error"};
  auto now = std::chrono::system_clock::now();
  time_t t = std::chrono::system_clock::to_time_t(now);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string line;
  line.reserve(64 + message.size());
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
  ssize_t unused = ::write(STDERR_FILENO, line.data(), line.size());
  (void)unused;
}

}  // namespace originwatch
