// Observatory: the latest snapshot of every configured origin (origin_view.h),
// published by the evaluator thread and read by the HTTP endpoint's thread.
// Copy-on-write: a snapshot is immutable; Publish swaps one pointer under a
// short lock, readers copy the pointers and render with no lock held, so a
// slow scrape never blocks the evaluator beyond that swap.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "originwatch/origin_view.h"

namespace originwatch::agent_internal {

class Observatory final : public ViewSink {
 public:
  // ViewSink (the evaluator thread).
  void Publish(std::shared_ptr<const OriginView> view) override;
  void Retain(const std::set<std::string>& origins) override;
  void CountProbe(Outcome outcome) override;

  // Any thread. Sorted by name.
  std::vector<std::shared_ptr<const OriginView>> Origins() const;
  std::shared_ptr<const OriginView> Find(const std::string& name) const;
  // Results evaluated since start, by outcome code, every code listed.
  std::vector<std::pair<std::string, uint64_t>> ProbeCounts() const;

 private:
  static constexpr size_t kOutcomeSlots = 64;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const OriginView>> views_;
  std::atomic<uint64_t> outcomes_[kOutcomeSlots] = {};
};

}  // namespace originwatch::agent_internal
