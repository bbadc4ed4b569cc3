// The wall clock, read in one place. Components that decide anything from time
// (scheduler, diagnosis, alert rules) take `now` as a parameter instead; only
// the edges (the agent loop, the engine's timestamps, the CLI) call these.
#pragma once

#include <time.h>

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

// A monotonic clock in milliseconds, for durations and deadlines. It is
// CLOCK_MONOTONIC by name, not by the standard library's choice: the engine
// hands these times to the kernel as absolute io_uring deadlines, which the
// kernel measures on CLOCK_MONOTONIC.
inline int64_t MonotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace originwatch
