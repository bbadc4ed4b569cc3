#include "agent/liveness.h"

namespace originwatch::agent_internal {

int Liveness::Register(std::string name, int64_t now_ms) {
  auto s = std::make_unique<Slot>();
  s->name = std::move(name);
  s->last_ms.store(now_ms, std::memory_order_relaxed);
  slots_.push_back(std::move(s));
  return static_cast<int>(slots_.size()) - 1;
}

void Liveness::Beat(int slot, int64_t now_ms) {
  slots_[static_cast<size_t>(slot)]->last_ms.store(now_ms, std::memory_order_relaxed);
}

void Liveness::Retire(int slot) { slots_[static_cast<size_t>(slot)]->retired.store(true, std::memory_order_relaxed); }

Liveness::Verdict Liveness::Check(int64_t now_ms) const {
  Verdict v;
  for (const auto& s : slots_) {
    if (s->retired.load(std::memory_order_relaxed)) continue;
    const int64_t age = now_ms - s->last_ms.load(std::memory_order_relaxed);
    if (age > v.oldest_ms) v.oldest_ms = age;
    if (age > stuck_after_ms_) {
      v.ok = false;
      if (!v.stuck.empty()) v.stuck += ", ";
      v.stuck += s->name + " (" + std::to_string(age / 1000) + " s)";
    }
  }
  return v;
}

}  // namespace originwatch::agent_internal
