#include "agent/reload.h"

namespace originwatch::agent_internal {

std::optional<ReloadOutcome> ReloadMailbox::Ask(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  if (closed_) return last_;
  const uint64_t ticket = ++asked_;
  if (!cv_.wait_for(lk, timeout, [&] { return answered_ >= ticket; })) return std::nullopt;
  return last_;
}

bool ReloadMailbox::Pending() const {
  std::lock_guard<std::mutex> lk(mu_);
  return asked_ > answered_;
}

void ReloadMailbox::Answer(const ReloadOutcome& outcome) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    answered_ = asked_;
    last_ = outcome;
  }
  cv_.notify_all();
}

}  // namespace originwatch::agent_internal

namespace originwatch::agent_internal {

void ReloadMailbox::Close(const std::string& why) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
    answered_ = asked_;
    last_ = ReloadOutcome{false, {why}};
  }
  cv_.notify_all();
}

}  // namespace originwatch::agent_internal
