// ParseDurationMs / FormatDurationMs: the one duration syntax of the config file.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "originwatch/config.h"

namespace originwatch {
namespace {

struct Unit {
  std::string_view name;
  int64_t ms;
};
// Longest spelling first where one is a prefix of another ("ms" before "m").
constexpr Unit kUnits[] = {
    {"d", 86400000}, {"h", 3600000}, {"ms", 1}, {"m", 60000}, {"s", 1000},
};

}  // namespace

std::optional<int64_t> ParseDurationMs(std::string_view text) {
  if (text.empty()) return std::nullopt;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t total = 0;
  int64_t last_unit_ms = kMax;  // units must come in strictly decreasing order
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      int digit = text[i] - '0';
      if (n > (kMax - digit) / 10) return std::nullopt;
      n = n * 10 + digit;
      ++i;
    }
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (text.substr(i, u.name.size()) == u.name) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr || unit->ms >= last_unit_ms) return std::nullopt;
    i += unit->name.size();
    last_unit_ms = unit->ms;
    if (n > kMax / unit->ms) return std::nullopt;
    int64_t part = n * unit->ms;
    if (total > kMax - part) return std::nullopt;
    total += part;
  }
  return total;
}

std::string FormatDurationMs(int64_t ms) {
  if (ms == 0) return "0s";
  if (ms < 0)
    return "-" + FormatDurationMs(ms == std::numeric_limits<int64_t>::min()
                                      ? std::numeric_limits<int64_t>::max()
                                      : -ms);
  static constexpr Unit kOrder[] = {
      {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
  };
  std::string out;
  for (const Unit& u : kOrder) {
    if (ms >= u.ms) {
      out += std::to_string(ms / u.ms);
      out += u.name;
      ms %= u.ms;
    }
  }
  return out;
}

}  // namespace originwatch
