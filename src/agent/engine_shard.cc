// EngineShard (engine_shard.h).
#include "agent/engine_shard.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "originwatch/clock.h"
#include "originwatch/log.h"

namespace originwatch::agent_internal {
namespace {

bool SameEngineOptions(const EngineOptions& a, const EngineOptions& b) {
  if (a.ca_file != b.ca_file || a.ca_digest != b.ca_digest || a.profiles.size() != b.profiles.size())
    return false;
  for (size_t i = 0; i < a.profiles.size(); ++i) {
    const ClientProfile& x = a.profiles[i];
    const ClientProfile& y = b.profiles[i];
    if (x.name != y.name || x.min_version != y.min_version || x.max_version != y.max_version ||
        x.ciphers != y.ciphers || x.ciphersuites != y.ciphersuites || x.groups != y.groups ||
        x.alpn != y.alpn)
      return false;
  }
  return true;
}

}  // namespace

void DriftHistogram::Add(int64_t drift_ms) {
  if (drift_ms < 0) drift_ms = 0;  // started early (clock steps): on time
  size_t i = 0;
  while (i < std::size(kBoundsMs) && drift_ms > kBoundsMs[i]) ++i;
  counts[i].fetch_add(1, std::memory_order_relaxed);
  sum_ms.fetch_add(drift_ms, std::memory_order_relaxed);
  int64_t m = max_ms.load(std::memory_order_relaxed);
  while (drift_ms > m && !max_ms.compare_exchange_weak(m, drift_ms, std::memory_order_relaxed)) {
  }
}

void DriftSummary::Merge(const DriftHistogram& h) {
  for (size_t i = 0; i < DriftHistogram::kBuckets; ++i) {
    uint64_t n = h.counts[i].load(std::memory_order_relaxed);
    counts[i] += n;
    total += n;
  }
  max_ms = std::max(max_ms, h.max_ms.load(std::memory_order_relaxed));
  sum_ms += h.sum_ms.load(std::memory_order_relaxed);
}

int64_t DriftSummary::QuantileBoundMs(double q) const {
  if (total == 0) return -1;
  auto rank = static_cast<uint64_t>(q * static_cast<double>(total));
  if (rank >= total) rank = total - 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < DriftHistogram::kBuckets; ++i) {
    seen += counts[i];
    if (seen > rank) return i < std::size(DriftHistogram::kBoundsMs) ? DriftHistogram::kBoundsMs[i] : -1;
  }
  return -1;
}

DriftSummary DriftSummary::Since(const DriftSummary& earlier) const {
  DriftSummary d = *this;
  d.total = 0;
  d.max_ms = -1;  // not known per interval
  for (size_t i = 0; i < DriftHistogram::kBuckets; ++i) {
    d.counts[i] = counts[i] >= earlier.counts[i] ? counts[i] - earlier.counts[i] : 0;
    d.total += d.counts[i];
  }
  return d;
}

std::string DriftSummary::ToString() const {
  auto bound = [&](double q) {
    int64_t b = QuantileBoundMs(q);
    return b < 0 ? std::string("> 10000 ms") : "<= " + std::to_string(b) + " ms";
  };
  if (total == 0) return "no starts";
  return "p50 " + bound(0.5) + ", p99 " + bound(0.99) +
         (max_ms >= 0 ? ", max " + std::to_string(max_ms) + " ms" : std::string()) + " (" +
         std::to_string(total) + " starts)";
}

Status EngineShard::Start(ShardPlan plan) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = std::move(plan);
  }
  thread_ = std::thread([this] {
    // Named for top -H, perf and /proc/<pid>/task/*/comm (15 bytes at most).
    pthread_setname_np(pthread_self(), ("ow-engine-" + std::to_string(index_)).substr(0, 15).c_str());
    Loop();
  });
  std::unique_lock<std::mutex> lock(mu_);
  started_cv_.wait(lock, [this] { return started_; });
  return start_status_;
}

void EngineShard::Update(ShardPlan plan) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_ = std::move(plan);
}

void EngineShard::Join() {
  if (thread_.joinable()) thread_.join();
}

Scheduler::Stats EngineShard::scheduler_stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sched_stats_;
}

void EngineShard::Loop() {
  std::optional<ShardPlan> plan;
  {
    std::lock_guard<std::mutex> lock(mu_);
    plan = std::move(pending_);
    pending_.reset();
  }
  Status st = BuildEngine(plan->engine_options);
  {
    std::lock_guard<std::mutex> lock(mu_);
    start_status_ = st;
    started_ = true;
  }
  started_cv_.notify_all();
  if (!st.ok()) return;
  scheduler_ = std::make_unique<Scheduler>(plan->scheduler_options);
  scheduler_->SetProbes(std::move(plan->probes), UnixNowMs());
  // Test hook (docs/testing.md): ORIGINWATCH_TEST_STALL_ENGINE_MS=N stalls
  // engine 0 once for N ms, 2 s after it starts: a stuck loop, for the
  // watchdog test.
  int64_t stall_ms = 0;
  if (const char* e = std::getenv("ORIGINWATCH_TEST_STALL_ENGINE_MS"); e != nullptr && index_ == 0)
    stall_ms = std::strtoll(e, nullptr, 10);
  const int64_t stall_at = MonotonicMs() + 2000;

  while (!stop_.load()) {
    if (liveness_ != nullptr) liveness_->Beat(liveness_slot_, MonotonicMs());
    if (stall_ms > 0 && MonotonicMs() >= stall_at) {
      std::this_thread::sleep_for(std::chrono::milliseconds(stall_ms));
      stall_ms = 0;
    }
    std::optional<ShardPlan> next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pending_) {
        next = std::move(pending_);
        pending_.reset();
      }
    }
    if (next) {
      if (!SameEngineOptions(next->engine_options, engine_options_)) {
        // Profiles or CA changed: let the old engine finish its probes, then
        // build the new one. Deadlines bound the wait.
        engine_->RunUntilIdle();
        if (Status s = BuildEngine(next->engine_options); !s.ok()) {
          // The main thread validated these options; if the engine still
          // cannot be built (the CA file vanished since), keep probing with
          // the old one rather than stop.
          Log(LogLevel::kError, "", "engine " + std::to_string(index_) + ": " + s.message() +
                                        "; keeping the previous profiles and CA");
        }
      }
      scheduler_->SetProbes(std::move(next->probes), UnixNowMs());
    }
    const int64_t now = UnixNowMs();
    std::vector<ProbeSpec> due_now = scheduler_->TakeDue(now);
    const bool started_any = !due_now.empty();
    for (ProbeSpec& spec : due_now) {
      if (spec.due_ms > 0) drift_.Add(UnixNowMs() - spec.due_ms);
      engine_->Submit(std::move(spec), [this](ProbeResult&& r) { Finished(std::move(r)); });
    }
    int wait = 250;
    if (auto due = scheduler_->NextDue()) {
      wait = static_cast<int>(std::clamp<int64_t>(*due - UnixNowMs(), 0, 250));
      // Due but held back by a per-address cap: wait for a completion rather
      // than spin.
      if (wait == 0 && !started_any) wait = 10;
    }
    engine_->Poll(wait);
    if (liveness_ != nullptr) liveness_->Beat(liveness_slot_, MonotonicMs());
    std::lock_guard<std::mutex> lock(mu_);
    sched_stats_ = scheduler_->stats();
  }
  // Drain: nothing new starts; every probe in flight ends by its deadline.
  if (liveness_ != nullptr) liveness_->Retire(liveness_slot_);
  if (engine_) engine_->RunUntilIdle();
  std::lock_guard<std::mutex> lock(mu_);
  sched_stats_ = scheduler_->stats();
}

// Builds the new engine before the old one goes: on failure nothing changes.
Status EngineShard::BuildEngine(const EngineOptions& opts) {
  auto e = Engine::Create(opts);
  if (!e.ok()) return e.status();
  engine_ = std::move(e).value();
  engine_options_ = opts;
  Log(LogLevel::kDebug, "", "engine " + std::to_string(index_) + ": ring " + engine_->ring_mode() +
                                ", trust " + engine_->ca_description());
  return Status::Ok();
}

// The whole of the engine thread's share of a result: the scheduler's slot
// and one move into the evaluator's queue.
void EngineShard::Finished(ProbeResult&& r) {
  scheduler_->Complete(r.spec.id);
  completed_.fetch_add(1, std::memory_order_relaxed);
  if (!evaluator_->Submit(std::move(r))) {
    if (dropped_.fetch_add(1) % 1000 == 0)
      Log(LogLevel::kError, "", "evaluator queue full: a probe result was dropped (counted)");
  }
}

}  // namespace originwatch::agent_internal
