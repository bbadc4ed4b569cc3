// One engine thread: an Engine (one io_uring ring) and a Scheduler over a
// shard of the plan. Handshakes only: every result is moved, uncopied, into
// the evaluator's queue. Private to src/agent.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/liveness.h"
#include "originwatch/engine.h"
#include "originwatch/evaluator.h"
#include "originwatch/scheduler.h"

namespace originwatch::agent_internal {

// What one engine thread runs: its shard of the plan and the settings its
// Engine is built from. Handed over under a mutex; the thread picks it up
// within one loop turn.
struct ShardPlan {
  std::vector<ScheduledProbe> probes;
  EngineOptions engine_options;
  Scheduler::Options scheduler_options;
};

// How late probes start: actual start minus the scheduler's due time, in
// buckets (upper bounds in ms; the last one is unbounded). Written by the
// engine thread, read by any.
struct DriftHistogram {
  static constexpr int64_t kBoundsMs[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
  static constexpr size_t kBuckets = std::size(kBoundsMs) + 1;
  std::atomic<uint64_t> counts[kBuckets] = {};
  std::atomic<int64_t> max_ms{0};
  std::atomic<int64_t> sum_ms{0};  // of every drift added (the /metrics histogram's _sum)

  void Add(int64_t drift_ms);
};

// A merged snapshot of shards' histograms.
struct DriftSummary {
  uint64_t counts[DriftHistogram::kBuckets] = {};
  uint64_t total = 0;
  int64_t max_ms = 0;
  int64_t sum_ms = 0;
  void Merge(const DriftHistogram& h);
  // The upper bound of the bucket holding quantile q (0..1); -1 if empty or
  // beyond the last bound.
  int64_t QuantileBoundMs(double q) const;
  std::string ToString() const;  // "p50 <= 1 ms, p99 <= 5 ms, max 37 ms (12000 starts)"
  // The starts since `earlier` (a previous snapshot of the same shards),
  // without a max (max_ms -1: a histogram does not keep one per interval).
  DriftSummary Since(const DriftSummary& earlier) const;
};

class EngineShard {
 public:
  EngineShard(int index, EvaluatorStage* evaluator) : index_(index), evaluator_(evaluator) {}

  // The loop beats `slot` of `liveness` after every turn (at most every
  // 250 ms) and retires it when it ends. Call before Start.
  void set_liveness(Liveness* liveness, int slot) {
    liveness_ = liveness;
    liveness_slot_ = slot;
  }

  // Starts the thread and waits until its Engine exists (or failed).
  Status Start(ShardPlan plan);
  void Update(ShardPlan plan);
  // Stop every shard first, then Join them all: shards drain in parallel.
  void RequestStop() { stop_.store(true); }
  void Join();
  void Stop() {
    RequestStop();
    Join();
  }

  Scheduler::Stats scheduler_stats() const;
  uint64_t dropped() const { return dropped_.load(); }
  uint64_t completed() const { return completed_.load(); }
  const DriftHistogram& drift() const { return drift_; }

 private:
  void Loop();
  Status BuildEngine(const EngineOptions& opts);
  void Finished(ProbeResult&& r);

  const int index_;
  EvaluatorStage* evaluator_;
  Liveness* liveness_ = nullptr;  // the systemd watchdog and /healthz read it
  int liveness_slot_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> completed_{0};
  DriftHistogram drift_;
  mutable std::mutex mu_;
  std::condition_variable started_cv_;
  bool started_ = false;
  Status start_status_;
  std::optional<ShardPlan> pending_;
  Scheduler::Stats sched_stats_;

  // Engine thread only.
  std::unique_ptr<Engine> engine_;
  EngineOptions engine_options_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace originwatch::agent_internal
