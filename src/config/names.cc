#include "config/names.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace originwatch::config_internal {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool IsDnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  bool last_all_digits = false;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    last_all_digits = true;
    for (char c : label) {
      if (!IsAlnum(c) && c != '-') return false;
      if (!IsDigit(c)) last_all_digits = false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return !last_all_digits;
}

bool IsIpLiteral(std::string_view s) {
  if (s.empty() || s.size() > 45) return false;
  std::string str(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, str.c_str(), buf) == 1 || inet_pton(AF_INET6, str.c_str(), buf) == 1;
}

bool IsDnsServer(std::string_view s) {
  std::string_view host = s;
  std::string_view port;
  int family = AF_INET;
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    host = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || rest.size() == 1) return false;
      port = rest.substr(1);
    }
    family = AF_INET6;
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    const size_t colon = s.find(':');
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (port.empty()) return false;
  } else if (s.find(':') != std::string_view::npos) {
    family = AF_INET6;
  }
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), IsDigit)) return false;
    const int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return false;
  }
  if (host.empty() || host.size() > 45) return false;
  const std::string h(host);
  unsigned char buf[16];
  return inet_pton(family, h.c_str(), buf) == 1;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '-'; });
}

bool IsEnvName(std::string_view s) {
  if (s.empty() || IsDigit(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsAlnum(c) || c == '_'; });
}

bool IsHttpUrl(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  auto starts_with_nocase = [&](std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
      char c = s[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != prefix[i]) return false;
    }
    return true;
  };
  std::string_view rest;
  if (starts_with_nocase("https://")) {
    rest = s.substr(8);
  } else if (starts_with_nocase("http://")) {
    rest = s.substr(7);
  } else {
    return false;
  }
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos) return false;  // no credentials in URLs
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port = after.substr(1);
      if (port.empty()) return false;
    }
    std::string h(host);
    unsigned char buf[16];
    if (inet_pton(AF_INET6, h.c_str(), buf) != 1) return false;
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (!IsDnsName(host) && !IsIpLiteral(host)) return false;
    if (IsIpLiteral(host) && host.find(':') != std::string_view::npos) return false;
  }
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), IsDigit)) return false;
    int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return false;
  }
  return true;
}

int EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::string_view Closest(std::string_view word, std::span<const std::string_view> candidates) {
  std::string_view best;
  int best_distance = 3;
  for (std::string_view c : candidates) {
    // The distance is at least the difference in length: skip the quadratic
    // work for a word far longer than any candidate (a 10 MB key or value).
    const size_t longer = std::max(word.size(), c.size()), shorter = std::min(word.size(), c.size());
    if (longer - shorter >= static_cast<size_t>(best_distance)) continue;
    int d = EditDistance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::string Quoted(std::string_view s) {
  // At most kQuotedLimit bytes of s, cut at a UTF-8 code point boundary.
  size_t keep = s.size();
  if (keep > kQuotedLimit) {
    keep = kQuotedLimit;
    while (keep > 0 && (static_cast<unsigned char>(s[keep]) & 0xC0) == 0x80) --keep;
  }
  std::string out = "\"";
  for (char c : s.substr(0, keep)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  if (keep < s.size()) out += "...";
  return out;
}

std::string SafeMessage(std::string_view message) {
  constexpr size_t kMaxMessage = 240;
  std::string out;
  bool in_excerpt = false;
  size_t excerpt = 0;  // bytes of the current '...' excerpt kept so far
  for (size_t i = 0; i < message.size(); ++i) {
    if (out.size() >= kMaxMessage) {
      out += "...";
      break;
    }
    const char c = message[i];
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '\'') {
      in_excerpt = !in_excerpt;
      excerpt = 0;
      out += c;
      continue;
    }
    if (in_excerpt && excerpt == kQuotedLimit) {
      // Drop the rest of the excerpt, up to its closing quote.
      const size_t close = message.find('\'', i);
      out += "...";
      if (close == std::string_view::npos) break;
      i = close - 1;
      excerpt = kQuotedLimit + 1;
      continue;
    }
    if (in_excerpt && excerpt < kQuotedLimit) ++excerpt;
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace originwatch::config_internal
