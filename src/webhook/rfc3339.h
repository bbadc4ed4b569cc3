// Times in event bodies and Alertmanager alerts: RFC 3339, UTC, milliseconds
// ("2026-11-22T14:03:05.123Z"), which Go's time.Parse (Alertmanager) reads.
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace originwatch::webhook_internal {

inline std::string Rfc3339(int64_t ms) {
  int64_t s = ms / 1000;
  int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    s -= 1;
  }
  time_t t = static_cast<time_t>(s);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(frac));
  return out;
}

}  // namespace originwatch::webhook_internal
