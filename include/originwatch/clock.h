// The wall clock, read in one place. Components that decide anything from time
// (scheduler, diagnosis, alert rules) take `now` as a parameter instead; only
// the edges (the agent loop, the engine's timestamps, the CLI) call these.
#pragma once

#include <chrono>
#include <cstdint>

namespace originwatch {

// Unix time in milliseconds.
inline int64_t UnixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Unix time in seconds.
inline int64_t UnixNowS() { return UnixNowMs() / 1000; }

// A monotonic clock in milliseconds, for durations and deadlines.
inline int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace originwatch
