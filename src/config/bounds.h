// The limits a configuration file must stay within before toml++ sees it,
// and the pre-scanner that enforces them.
//
// Why: a key of 1,000,000 dotted parts (a 2 MB file) is 1,000,000 nested
// tables, and toml++ 3.3 overflows the stack on it (SIGSEGV); a 10 MB key was
// copied into every message that named it. CheckConfigBounds reads the text
// once, recursing no deeper than kMaxNesting and allocating nothing in
// proportion to the input.
//
// The scanner knows TOML's lexical structure well enough to find every key:
// comments, bare / quoted / dotted keys, [table] and [[array]] headers,
// basic, literal and multi-line strings (a '#' or '.' inside a string is
// not structure), arrays and inline tables. On a token it cannot place (a
// syntax error, which toml++ then reports in its own words) it skips to the
// next line and keeps checking there, so no key escapes it.
//
// Safe to call from any thread; no I/O. Meant as the entry point of a fuzz
// target too: any text, any length.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "originwatch/config.h"

namespace originwatch {

inline constexpr size_t kMaxConfigBytes = size_t{32} << 20;  // 32 MiB, the whole file
inline constexpr size_t kMaxKeyBytes = 1024;  // one key as written, dots and quotes included
inline constexpr int kMaxKeyParts = 16;       // a.b.c: 3 parts; [a.b] headers alike
inline constexpr int kMaxNesting = 32;        // arrays and inline tables inside each other

// The first limit text breaks, as an error at file:line:column (line 0 for the
// size of the whole text), or nullopt when text is within every limit. Says
// nothing about other syntax errors: those are toml++'s to report.
std::optional<ConfigError> CheckConfigBounds(std::string_view text, const std::string& file);

}  // namespace originwatch
