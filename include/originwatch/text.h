// Text that came from outside (certificate names a server chose, error texts,
// query results) on its way to a terminal or a JSON document: UTF-8 decoding
// that never fails, and a terminal-safe form. Header-only, no I/O; used by the
// store's table/CSV/JSON output and the probe report.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace originwatch {

// Decodes UTF-8; calls emit(code point) for each character and emit(0xFFFD)
// for each byte that does not start a valid sequence (overlong forms,
// surrogates and values above U+10FFFF are invalid).
template <typename Emit>
inline void DecodeUtf8(std::string_view s, Emit emit) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    size_t len = 0;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      cp = c & 0x1F;
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      cp = c & 0x0F;
      len = 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      cp = c & 0x07;
      len = 4;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
               (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))) {
      ok = false;
    }
    if (!ok) {
      emit(0xFFFD);
      ++i;
    } else {
      emit(cp);
      i += len;
    }
  }
}

inline void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Terminal-safe text: controls (C0, DEL, C1) as \xNN, invalid UTF-8 as U+FFFD.
// Returns the text and its width in characters.
inline std::pair<std::string, size_t> TerminalSafe(std::string_view s) {
  std::string out;
  size_t width = 0;
  DecodeUtf8(s, [&](uint32_t cp) {
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(cp));
      out += buf;
      width += 4;
    } else {
      AppendUtf8(out, cp);
      ++width;
    }
  });
  return {std::move(out), width};
}

}  // namespace originwatch
