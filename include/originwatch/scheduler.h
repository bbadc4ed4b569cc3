// The scheduler: decides which probes start when. Each origin × address ×
// variant is one ScheduledProbe, due once per interval.
//
// - Start phases are spread over the interval, so neither the start of the
//   agent nor a reload starts every probe at once (no thundering herd).
// - A global in-flight cap and a per-address cap (one IP behind many names is
//   not hammered) hold probes back; a held-back probe starts as soon as a slot
//   frees, never twice for one turn.
// - A probe still running when its next turn comes is not started again: the
//   turn is skipped and counted.
// - Time is a value (`now_ms`) passed in by the caller: the scheduler reads no
//   clock and never sleeps, so it is tested with a fake clock.
//
// Typical loop on the engine thread:
//   sched.SetProbes(plan, now);                       // start and every reload
//   for (;;) {
//     for (ProbeSpec& s : sched.TakeDue(now)) engine.Submit(std::move(s), cb);
//     // cb (or the result handler) calls sched.Complete(result.spec.id), then TakeDue
//     // again: a freed slot may let a held-back probe start.
//     wait until *sched.NextDue() (or a completion, or forever when nullopt)
//   }
//
// Threading: a Scheduler is not thread-safe. One thread (the engine thread that
// owns it) makes every call. It does no I/O and takes no lock. TakeDue returns
// copies of the specs: nothing it returns points into the scheduler.
//
// Cost: TakeDue is O(log n) per probe it looks at (a binary min-heap of
// (due, id) with lazy invalidation), NextDue is O(1), Complete O(1) amortized,
// SetProbes O(n log n). 100,000 probes are fine (bench/scheduler_bench.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "originwatch/config.h"
#include "originwatch/probe.h"

namespace originwatch {

// One origin × address × variant and how often to probe it.
struct ScheduledProbe {
  ProbeSpec spec;               // spec.id is ignored: the scheduler assigns it (see Scheduler)
  int64_t interval_ms = 60000;  // > 0 (checked: a broken invariant aborts)
};

// The identity of a probe across reloads: origin name, address, port, SNI (or
// none) and profile. Two specs with the same key are the same probe; other
// fields (timeouts, expected names, host) may change on reload without
// resetting its schedule.
std::string ScheduleKey(const ProbeSpec& spec);

class Scheduler {
 public:
  struct Options {
    int max_in_flight = 2000;  // probes running at once, all addresses; < 1 is read as 1
    int max_per_address = 8;   // probes running at once on one address; < 1 is read as 1
  };

  struct Stats {
    uint64_t started = 0;            // probes returned by TakeDue
    uint64_t skipped_in_flight = 0;  // turns skipped because the probe was still running
    uint64_t deferred_cap = 0;       // turns held back by a cap (counted once per turn)
    size_t in_flight = 0;            // started and not yet completed (removed ones included)
    size_t probes = 0;               // probes in the current set
    size_t held = 0;                 // due now but held back by a cap
  };

  explicit Scheduler(Options options);
  Scheduler() : Scheduler(Options{}) {}
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Replaces the set of probes (at start and on every reload).
  //
  // - A probe whose key (ScheduleKey) was already scheduled keeps its id and
  //   its next due time, unless its interval changed (then it is re-phased like
  //   a new one). Its spec is replaced (a running probe keeps the old one).
  // - New probes get a deterministic phase: per interval, the new probes are
  //   ordered by a stable hash of their key (FNV-1a, not std::hash) and placed
  //   at evenly spaced offsets of the interval, starting at the offset of the
  //   first one's hash (a single new probe lands on hash(key) mod interval).
  //   Offsets are on the grid of `now_ms` modulo the interval: with a wall clock
  //   (unix ms) and the same set of probes, each probe runs at the same offset
  //   after every restart. Its first turn is the first slot at or after now_ms.
  // - Probes no longer in the set are dropped. One still running keeps its caps
  //   until Complete(id), which is then harmless; if the same key comes back
  //   before that, it is the same probe again (same id, still in flight).
  // - A key given twice: the first one counts, the others are ignored.
  void SetProbes(std::vector<ScheduledProbe> probes, int64_t now_ms);

  // The probes to start now (due at or before now_ms), in due order, within the
  // caps. Each returned spec carries its id; it is in flight until Complete(id).
  // Its next turn is the first slot of its phase grid after now_ms: a stalled
  // caller (now jumps several intervals) gets one start per probe, not a burst.
  // A due probe still in flight is not returned: each turn it missed counts in
  // stats().skipped_in_flight and its next turn is the first slot after now_ms.
  // A due probe held back by a cap stays due (stats().held) and is returned by
  // a later call once a slot frees; it counts once in stats().deferred_cap.
  // May return an empty vector (everything due was held back or skipped).
  std::vector<ProbeSpec> TakeDue(int64_t now_ms);

  // The probe with this id finished (any outcome): frees its caps. Returns false
  // (and does nothing) when the id is not in flight (unknown, or completed twice).
  bool Complete(uint64_t id);

  // When TakeDue should be called next: the earliest due time among scheduled
  // probes, and among held-back ones while a global slot is free; nullopt when
  // there is nothing to wait for (no probes, or everything waits for Complete).
  // A value at or before now means: call TakeDue now.
  std::optional<int64_t> NextDue() const;

  Stats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The ScheduledProbes of one origin: addresses × origin.sni × origin.profiles
// (the nesting order of ExpandMatrix in plan.h), with the origin's port,
// expected names, timeouts and interval. `addresses` are numeric (origin.connect,
// or what its host resolved to); duplicates are dropped. Fields left at 0 in a
// hand-built OriginConfig take AgentConfig's defaults (LoadConfigFile and
// ParseConfig always fill them); so do empty lists: sni {host}, or {none} when
// host is an IP literal, and profiles {"modern"}.
std::vector<ScheduledProbe> PlanOrigin(const OriginConfig& origin,
                                       const std::vector<std::string>& addresses);

}  // namespace originwatch
