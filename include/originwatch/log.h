// Logging: one line per event on stderr, with time, level and origin:
//   2026-11-22T14:03:05Z warn  origin=promo sni=none: handshake now fails (tls_alert 112)
// Thread-safe; a line is written with one write(2), so lines never interleave.
#pragma once

#include <string>
#include <string_view>

namespace originwatch {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn", "error"; false for anything else.
bool ParseLogLevel(std::string_view text, LogLevel* out);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
// origin may be empty (agent-wide events).
void Log(LogLevel level, std::string_view origin, std::string_view message);

}  // namespace originwatch
