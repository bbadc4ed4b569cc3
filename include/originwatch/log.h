// Logging: one line per event on stderr, with time, level and origin:
//   2026-11-22T14:03:05Z warn  origin=promo sni=none: handshake now fails (tls_alert 112)
// or, with `--log-format json`, one JSON object per line (docs/config.md):
//   {"time":"2026-11-22T14:03:05Z","level":"warn","msg":"...","origin":"promo","variant":"..."}
// Thread-safe; a line is written with one write(2), so lines never interleave.
#pragma once

#include <string>
#include <string_view>

namespace originwatch {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat : int { kText = 0, kJson = 1 };

// "debug", "info", "warn", "error"; false for anything else.
bool ParseLogLevel(std::string_view text, LogLevel* out);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
// "text", "json"; false for anything else.
bool ParseLogFormat(std::string_view text, LogFormat* out);
// Set once, before the threads that log start (default: text).
void SetLogFormat(LogFormat format);
// origin may be empty (agent-wide events).
void Log(LogLevel level, std::string_view origin, std::string_view message);
// The same, naming the variant (address, SNI, profile) too: a field of its own
// in JSON; the text line is the one the three-argument Log writes.
void Log(LogLevel level, std::string_view origin, std::string_view variant, std::string_view message);

}  // namespace originwatch
