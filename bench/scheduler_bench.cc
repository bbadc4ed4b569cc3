// Scheduler hot path: how many probes per second TakeDue + Complete can hand out
// with 100,000 probes scheduled, and how long a reload of the whole set takes.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "originwatch/scheduler.h"

namespace originwatch {
namespace {

std::vector<ScheduledProbe> MakeProbes(int n) {
  std::vector<ScheduledProbe> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    ScheduledProbe p;
    p.spec.origin = "origin-" + std::to_string(i / 4);
    p.spec.host = p.spec.origin + ".example.com";
    p.spec.address = "10." + std::to_string((i / 4) % 250) + "." + std::to_string(i % 200) + ".1";
    if (i % 2 == 0) p.spec.sni = p.spec.host;
    p.spec.profile = i % 4 < 2 ? "modern" : "legacy-rsa";
    p.spec.expect_names = {p.spec.host};
    p.interval_ms = 60000;
    out.push_back(std::move(p));
  }
  return out;
}

// Simulated time advances in 10 ms ticks; every started probe completes on the
// next tick, so the caps are exercised but rarely the limit.
void BM_TakeDueComplete(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Scheduler s(Scheduler::Options{2000, 8});
  s.SetProbes(MakeProbes(n), 0);
  int64_t now = 0;
  std::vector<uint64_t> running;
  uint64_t probes = 0;
  for (auto _ : state) {
    for (uint64_t id : running) s.Complete(id);
    running.clear();
    for (const ProbeSpec& p : s.TakeDue(now)) running.push_back(p.id);
    probes += running.size();
    now += 10;
  }
  state.counters["probes"] =
      benchmark::Counter(static_cast<double>(probes), benchmark::Counter::kIsRate);
  state.counters["skipped"] = static_cast<double>(s.stats().skipped_in_flight);
}
BENCHMARK(BM_TakeDueComplete)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// Worst case for one call: the whole set is due at once (an agent stalled for a
// full interval), one TakeDue starts as many as the caps allow, then completes.
void BM_TakeDueAllDue(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Scheduler s(Scheduler::Options{n, n});
  s.SetProbes(MakeProbes(n), 0);
  int64_t now = 60000;
  uint64_t probes = 0;
  for (auto _ : state) {
    auto due = s.TakeDue(now);
    probes += due.size();
    for (const ProbeSpec& p : due) s.Complete(p.id);
    now += 60000;
  }
  state.counters["probes"] =
      benchmark::Counter(static_cast<double>(probes), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TakeDueAllDue)->Arg(100000)->Unit(benchmark::kMillisecond);

// A reload that keeps every probe (the common case: one origin edited).
void BM_ReloadUnchanged(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto probes = MakeProbes(n);
  Scheduler s;
  s.SetProbes(probes, 0);
  uint64_t reloads = 0;
  for (auto _ : state) {
    s.SetProbes(probes, 1000);  // copies the set, as a reload from config does
    ++reloads;
  }
  state.counters["probes"] =
      benchmark::Counter(static_cast<double>(reloads) * n, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReloadUnchanged)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace originwatch

BENCHMARK_MAIN();
