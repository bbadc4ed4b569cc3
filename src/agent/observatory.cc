#include "agent/observatory.h"

namespace originwatch::agent_internal {

void Observatory::Publish(std::shared_ptr<const OriginView> view) {
  std::shared_ptr<const OriginView> old;  // released after the lock
  std::lock_guard<std::mutex> lk(mu_);
  auto& slot = views_[view->name];
  old = std::move(slot);
  slot = std::move(view);
}

void Observatory::Retain(const std::set<std::string>& origins) {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto it = views_.begin(); it != views_.end();) {
    it = origins.count(it->first) > 0 ? std::next(it) : views_.erase(it);
  }
}

void Observatory::CountProbe(Outcome outcome) {
  const auto i = static_cast<size_t>(outcome);
  if (i < kOutcomeSlots) outcomes_[i].fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::shared_ptr<const OriginView>> Observatory::Origins() const {
  std::vector<std::shared_ptr<const OriginView>> out;
  std::lock_guard<std::mutex> lk(mu_);
  out.reserve(views_.size());
  for (const auto& [name, v] : views_) out.push_back(v);
  return out;
}

std::shared_ptr<const OriginView> Observatory::Find(const std::string& name) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : it->second;
}

std::vector<std::pair<std::string, uint64_t>> Observatory::ProbeCounts() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (size_t i = 0; i < kOutcomeSlots; ++i) {
    const auto o = static_cast<Outcome>(i);
    if (!OutcomeFromCode(OutcomeCode(o)) || OutcomeFromCode(OutcomeCode(o)) != o) continue;
    out.emplace_back(std::string(OutcomeCode(o)), outcomes_[i].load(std::memory_order_relaxed));
  }
  return out;
}

}  // namespace originwatch::agent_internal
