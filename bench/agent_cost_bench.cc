// Measures the agent's own cost per probe result outside OpenSSL (the engine
// thread's hand-off, the evaluator and the store row) in the steady state of
// 1000 origins x 4 variants.
//
// Inputs: 1000 configured origins, each probed at one address with 2 SNI
// names x 2 profiles ("modern" over TLS 1.3, "legacy-rsa" over TLS 1.2): 4000
// variants. Every result succeeds and carries a 2-certificate chain (an RSA
// leaf covering both names, and its intermediate) with 1000 bytes of DER per
// certificate. One benchmark iteration is one round: every variant once, in
// order, its start time one interval (60 s) after the previous round's, spread
// evenly over the interval. Warm-up rounds before the timing give every origin
// its 4 latest results and every variant a settled alert state. Building a
// round's results is outside the timing.
//
// Benchmarks (time per round of 4000 results; counters per result):
//   BM_EngineThreadShare  what an engine thread does per completion: counts
//                         it and moves the ProbeResult into EvaluatorStage
//                         (Submit). The stage runs a real Evaluator whose
//                         commits the sink discards; the stage drains between
//                         rounds, outside the timing. The scheduler's
//                         Complete(id), unchanged by the evaluator, is left out.
//   BM_EvaluatorOnResult  Evaluator::OnResult per result (one diagnosis of the
//                         origin, the rules in memory, the Commit); the commits
//                         are kept and freed outside the timing.
//   BM_EvaluatorSharedLeafFirstRound/N  the first round of N origins serving
//                         one certificate: per-result cost flat in N.
//   BM_PipelineWithStore  OnResult, then Store::Enqueue of the Commit into a
//                         SQLite file, with a Flush at the end of every round
//                         inside the timing: the writer thread's transactions
//                         are part of the cost.
// Counters: "per_probe" (wall-clock time per result) and "probes/s";
// "cpu_per_probe_ns", the CPU time per result of the benchmark thread (the
// first two) or of every thread of the process (the pipeline), which other
// load on the machine disturbs less; "events" and "states_written", 0 in the
// steady state; "dropped", results a full queue refused (must be 0).
#include <benchmark/benchmark.h>

#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/clock.h"
#include "originwatch/config.h"
#include "originwatch/diagnose.h"
#include "originwatch/evaluator.h"
#include "originwatch/store.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int kOrigins = 1000;
constexpr int kVariantsPerOrigin = 4;  // 2 SNI names x 2 profiles, one address
constexpr int kPerRound = kOrigins * kVariantsPerOrigin;
constexpr int64_t kIntervalMs = 60'000;
constexpr size_t kDerBytes = 1000;
// Rounds before the timing: the second success of a variant still changes its
// durable state (resolve_after = 2); from the third on nothing does.
constexpr int kWarmupRounds = 3;

std::string OriginName(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "o%04d", i);
  return buf;
}
std::string HostOf(int i) { return OriginName(i) + ".example.net"; }
std::string AddressOf(int i) { return "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256); }

AgentConfig BenchConfig(const std::string& database) {
  AgentConfig cfg;
  cfg.source_path = "agent_cost_bench.toml";
  cfg.database = database;
  cfg.profiles = BuiltinProfiles();
  for (int i = 0; i < kOrigins; ++i) {
    OriginConfig o;
    o.name = OriginName(i);
    o.host = HostOf(i);
    o.connect = {AddressOf(i)};
    o.sni = {o.host, "www." + o.host};
    o.expect_names = {o.host};
    o.profiles = {"modern", "legacy-rsa"};
    o.tags = {"bench"};
    o.interval_ms = kIntervalMs;
    o.timeout_ms = cfg.timeout_ms;
    o.connect_timeout_ms = cfg.connect_timeout_ms;
    o.line = i + 1;
    cfg.origins.push_back(std::move(o));
  }
  return cfg;
}

// One round's results, rebuilt from templates for every round.
class Rounds {
 public:
  explicit Rounds(int64_t t0_ms) : t0_ms_(t0_ms) {
    const int64_t now_s = t0_ms / 1000;
    auto with_der = [](CertInfo c) {
      c.der.resize(kDerBytes, '\x5a');
      return c;
    };
    for (int i = 0; i < kOrigins; ++i) {
      const std::string host = HostOf(i);
      const CertInfo leaf = with_der(TestLeaf(host, {host, "www." + host}, now_s, 60, KeyType::kRsa));
      const CertInfo inter = with_der(TestIntermediate(now_s));
      for (const std::string& sni : {host, "www." + host}) {
        for (const char* profile : {"modern", "legacy-rsa"}) {
          ProbeSpec spec = TestSpec(OriginName(i), host, AddressOf(i), sni, profile);
          spec.id = templates_.size() + 1;
          ProbeResult r = WithNamesCovered(OkResult(spec, 0, {leaf, inter}));
          if (spec.profile == "legacy-rsa") {
            r.version = "TLSv1.2";
            r.cipher = "ECDHE-RSA-AES128-GCM-SHA256";
          }
          templates_.push_back(std::move(r));
        }
      }
    }
  }
  // The results of round `round` (the first kWarmupRounds warm up) into `out`.
  void Fill(int64_t round, std::vector<ProbeResult>& out) const {
    out = templates_;
    for (size_t j = 0; j < out.size(); ++j)
      out[j].started_at_ms = t0_ms_ + round * kIntervalMs + static_cast<int64_t>(j) * kIntervalMs / kPerRound;
  }

 private:
  int64_t t0_ms_;
  std::vector<ProbeResult> templates_;
};

// CPU time of this thread (CLOCK_THREAD_CPUTIME_ID) or of the process.
int64_t CpuNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void ReportCounters(benchmark::State& state, int64_t probes, int64_t cpu_ns, uint64_t dropped,
                    const Evaluator::Stats& before, const Evaluator::Stats& after) {
  using benchmark::Counter;
  const auto n = static_cast<double>(probes);
  state.counters["probes/s"] = Counter(n, Counter::kIsRate);
  state.counters["per_probe"] = Counter(n, Counter::kIsRate | Counter::kInvert);
  state.counters["cpu_per_probe_ns"] = probes > 0 ? static_cast<double>(cpu_ns) / n : 0;
  state.counters["dropped"] = static_cast<double>(dropped);
  state.counters["events"] = static_cast<double>(after.events - before.events);
  state.counters["states_written"] = static_cast<double>(after.states_written - before.states_written);
}

std::shared_ptr<const EvaluatorConfig> EvalConfig(const std::string& database) {
  auto c = BuildEvaluatorConfig(BenchConfig(database));
  if (!c.ok()) std::abort();
  return c.value();
}

// A fresh directory for a SQLite file, removed with the object.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "agent_cost_bench.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path = tmpl;
  }
  ~TempDir() { std::error_code ec; std::filesystem::remove_all(path, ec); }
};

void BM_EngineThreadShare(benchmark::State& state) {
  const Rounds rounds(UnixNowMs());
  auto evaluator = std::make_unique<Evaluator>(EvalConfig(":memory:"), AlertSnapshot{});
  const Evaluator* ev = evaluator.get();
  auto discard = [](Commit&& c) { Commit discarded = std::move(c); return true; };
  EvaluatorStage stage(std::move(evaluator), discard, {});
  std::vector<ProbeResult> batch;
  for (int64_t w = 0; w < kWarmupRounds; ++w) {
    rounds.Fill(w, batch);
    for (ProbeResult& r : batch) stage.Submit(std::move(r));
    stage.Flush();
  }
  const Evaluator::Stats warm = ev->stats();
  std::atomic<uint64_t> completed{0};
  uint64_t refused = 0;
  int64_t cpu_ns = 0;
  int64_t round = kWarmupRounds;
  for (auto _ : state) {
    state.PauseTiming();
    stage.Flush();
    rounds.Fill(round++, batch);
    state.ResumeTiming();
    const int64_t cpu0 = CpuNs(CLOCK_THREAD_CPUTIME_ID);
    for (ProbeResult& r : batch) {
      completed.fetch_add(1, std::memory_order_relaxed);
      if (!stage.Submit(std::move(r))) ++refused;
    }
    cpu_ns += CpuNs(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  }
  stage.Flush();
  if (!batch.front().chain.empty()) state.SkipWithError("the result was copied, not moved");
  ReportCounters(state, static_cast<int64_t>(completed.load()), cpu_ns, refused, warm, ev->stats());
}
BENCHMARK(BM_EngineThreadShare)->UseRealTime()->Unit(benchmark::kMillisecond);

// Evaluates every result of `batch` (moved out) into `commits`; returns the CPU
// time this thread spent on it.
int64_t EvaluateAll(Evaluator& ev, std::vector<ProbeResult>& batch, std::vector<Commit>& commits) {
  const int64_t cpu0 = CpuNs(CLOCK_THREAD_CPUTIME_ID);
  for (ProbeResult& r : batch) {
    const int64_t now_ms = r.started_at_ms + r.total_ms;
    commits.push_back(ev.OnResult(std::move(r), now_ms));
  }
  return CpuNs(CLOCK_THREAD_CPUTIME_ID) - cpu0;
}

// The first round of N origins that all serve one certificate (a CDN's, say):
// every result is a new variant of the same leaf. The cost per result must not
// grow with N (it did: the serving set was rebuilt for every new variant).
void BM_EvaluatorSharedLeafFirstRound(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int64_t t0 = UnixNowMs();
  AgentConfig cfg;
  cfg.source_path = "agent_cost_bench.toml";
  cfg.database = ":memory:";
  cfg.profiles = BuiltinProfiles();
  const CertInfo leaf = TestLeaf("cdn.example.net", {"*.example.net"}, t0 / 1000, 60, KeyType::kEc);
  const CertInfo inter = TestIntermediate(t0 / 1000);
  std::vector<ProbeResult> results;
  for (int i = 0; i < n; ++i) {
    OriginConfig o;
    o.name = "s" + std::to_string(i);
    o.host = o.name + ".example.net";
    o.connect = {AddressOf(i % 60000)};
    o.sni = {o.host};
    o.expect_names = {o.host};
    o.profiles = {"modern"};
    o.interval_ms = kIntervalMs;
    o.timeout_ms = cfg.timeout_ms;
    o.connect_timeout_ms = cfg.connect_timeout_ms;
    o.line = i + 1;
    ProbeSpec spec = TestSpec(o.name, o.host, o.connect[0], o.host, "modern");
    ProbeResult r = WithNamesCovered(OkResult(spec, 0, {leaf, inter}));
    r.started_at_ms = t0 + static_cast<int64_t>(i) * kIntervalMs / n;
    results.push_back(std::move(r));
    cfg.origins.push_back(std::move(o));
  }
  auto config = BuildEvaluatorConfig(cfg);
  if (!config.ok()) {
    state.SkipWithError(config.status().message().c_str());
    return;
  }
  int64_t probes = 0;
  int64_t cpu_ns = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Evaluator ev(config.value(), AlertSnapshot{});
    std::vector<ProbeResult> batch = results;
    std::vector<Commit> commits;
    commits.reserve(batch.size());
    state.ResumeTiming();
    cpu_ns += EvaluateAll(ev, batch, commits);
    probes += n;
    state.PauseTiming();
    commits.clear();
    state.ResumeTiming();
  }
  state.counters["cpu_per_probe_ns"] = benchmark::Counter(static_cast<double>(cpu_ns) / probes);
  state.counters["probes/s"] = benchmark::Counter(static_cast<double>(probes), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EvaluatorSharedLeafFirstRound)->Arg(1000)->Arg(10000)->Arg(50000)->Iterations(1)
    ->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_EvaluatorOnResult(benchmark::State& state) {
  const Rounds rounds(UnixNowMs());
  Evaluator ev(EvalConfig(":memory:"), AlertSnapshot{});
  std::vector<ProbeResult> batch;
  for (int64_t w = 0; w < kWarmupRounds; ++w) {
    rounds.Fill(w, batch);
    for (ProbeResult& r : batch) {
      const int64_t now_ms = r.started_at_ms + r.total_ms;
      ev.OnResult(std::move(r), now_ms);
    }
  }
  const Evaluator::Stats warm = ev.stats();
  std::vector<Commit> commits;
  commits.reserve(kPerRound);
  int64_t probes = 0;
  int64_t cpu_ns = 0;
  int64_t round = kWarmupRounds;
  for (auto _ : state) {
    state.PauseTiming();
    commits.clear();
    rounds.Fill(round++, batch);
    state.ResumeTiming();
    cpu_ns += EvaluateAll(ev, batch, commits);
    probes += kPerRound;
  }
  for (const Commit& c : commits)
    if (!c.lead || c.lead->code != finding::kHealthy) state.SkipWithError("not the healthy steady state");
  ReportCounters(state, probes, cpu_ns, 0, warm, ev.stats());
}
BENCHMARK(BM_EvaluatorOnResult)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_PipelineWithStore(benchmark::State& state) {
  const int64_t t0 = UnixNowMs();
  const Rounds rounds(t0);
  TempDir dir;
  const AgentConfig cfg = BenchConfig((dir.path / "bench.db").string());
  Store::Options sopts;
  sopts.path = cfg.database;
  auto store_or = Store::Open(sopts);
  if (!store_or.ok()) {
    state.SkipWithError(store_or.status().message().c_str());
    return;
  }
  std::unique_ptr<Store> store = std::move(store_or).value();
  std::vector<OriginRecord> records;
  for (const OriginConfig& o : cfg.origins) records.push_back({o.name, o.host, o.port, o.tags});
  if (!store->SyncOrigins(records, t0).ok()) std::abort();
  auto snapshot = store->LoadAlertSnapshot();
  if (!snapshot.ok()) std::abort();
  Evaluator ev(EvalConfig(cfg.database), snapshot.value());
  std::vector<ProbeResult> batch;
  for (int64_t w = 0; w < kWarmupRounds; ++w) {
    rounds.Fill(w, batch);
    for (ProbeResult& r : batch) {
      const int64_t now_ms = r.started_at_ms + r.total_ms;
      store->Enqueue(ev.OnResult(std::move(r), now_ms));
    }
    store->Flush();
  }
  const Evaluator::Stats warm = ev.stats();
  uint64_t refused = 0;
  int64_t probes = 0;
  int64_t cpu_ns = 0;
  int64_t round = kWarmupRounds;
  for (auto _ : state) {
    state.PauseTiming();
    rounds.Fill(round++, batch);
    state.ResumeTiming();
    const int64_t cpu0 = CpuNs(CLOCK_PROCESS_CPUTIME_ID);
    for (ProbeResult& r : batch) {
      const int64_t now_ms = r.started_at_ms + r.total_ms;
      if (!store->Enqueue(ev.OnResult(std::move(r), now_ms))) ++refused;
    }
    store->Flush();
    cpu_ns += CpuNs(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    probes += kPerRound;
  }
  const Store::Stats ss = store->stats();
  store->Close();
  ReportCounters(state, probes, cpu_ns, refused + ss.dropped_queue_full, warm, ev.stats());
  state.counters["write_errors"] = static_cast<double>(ss.write_errors);
}
BENCHMARK(BM_PipelineWithStore)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace originwatch::testing

BENCHMARK_MAIN();
