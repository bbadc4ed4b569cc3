// A configuration reload asked over HTTP (POST /-/reload) is run by the main
// thread, exactly as SIGHUP: the HTTP thread posts a request here and waits,
// bounded, for the main loop's answer. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace originwatch::agent_internal {

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;  // why it was rejected (file:line:column: message, ...)
};

class ReloadMailbox {
 public:
  // HTTP thread: asks for a reload and waits at most `timeout` for the main
  // loop to run it; nullopt when it did not answer in time (the reload may
  // still run later).
  std::optional<ReloadOutcome> Ask(std::chrono::milliseconds timeout);
  // Main thread: whether a request waits.
  bool Pending() const;
  // Main thread: the outcome of the reload run for every request asked so far.
  void Answer(const ReloadOutcome& outcome);
  // Main thread, at shutdown: every waiting and later request gets `why` at
  // once (so stopping the endpoint never waits for a reload that will not run).
  void Close(const std::string& why);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t asked_ = 0;
  uint64_t answered_ = 0;
  bool closed_ = false;
  ReloadOutcome last_;
};

}  // namespace originwatch::agent_internal
