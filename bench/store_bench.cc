// Measures the store's writer thread alone: how many probe rows and how many
// evaluator commits per second it writes into a real SQLite file (the real
// schema and indexes, WAL, synchronous=NORMAL as Store::Open sets them).
//
// Inputs: 1000 origins x 2 variants (one address, SNI on and off), synced
// with SyncOrigins. Warm-up writes one ok probe per variant, so every chain
// (a leaf per origin and the shared intermediate, 1000 bytes of DER each) is
// already stored, as in the steady state of an agent. With argument 1 the
// store is opened with Options::known_certs and the results are built as the
// engine builds them then: a certificate the set holds comes without its DER
// (argument 0: every result carries the DER of its chain, 2 x 1000 bytes).
//
// Benchmarks (one iteration = one round of kRound items, built outside the
// timing, then enqueued and flushed inside it):
//   BM_ProbeRows  Store::Enqueue(ProbeResult): 4 of 5 results are an ok TLS
//                 1.3 probe with its 2-certificate chain, 1 of 5 a connect
//                 timeout without chain (the store counts the run itself).
//   BM_Commits    Store::Enqueue(Commit) as the evaluator builds them: the
//                 probe row, the lead finding, the run counts and the
//                 variant's changed alert state (a JSON value); 1 in 20 also
//                 opens an alert (its episode counter, a firing event with
//                 its webhook body routed to one webhook) and 1 in 10 marks
//                 an open alert seen again.
// Counters: "items/s" from the wall time between the first Enqueue of a
// round and the end of its Flush (the producer finishes long before the
// writer); "writer_items/s" per second of the writer thread's own CPU time
// (Stats::writer_cpu_ns), which other load on the machine disturbs less.
// "errors" counts dropped or failed items (must be 0).
#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/known_certs.h"
#include "originwatch/store.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

constexpr int kOrigins = 1000;
constexpr int kVariantsPerOrigin = 2;
constexpr int kVariants = kOrigins * kVariantsPerOrigin;
constexpr int kRound = 50'000;
constexpr size_t kDerBytes = 1000;
constexpr int64_t kT0 = 1'780'000'000'000;  // a fixed moment: the store reads no clock

struct TempDir {
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ow-store-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

std::string OriginName(int i) { return "origin-" + std::to_string(i); }

ProbeSpec Spec(int variant) {
  const int o = variant / kVariantsPerOrigin;
  const std::string host = OriginName(o) + ".example";
  std::optional<std::string> sni;
  if (variant % kVariantsPerOrigin == 0) sni = host;
  return TestSpec(OriginName(o), host, "10.0." + std::to_string(o / 250) + "." +
                                           std::to_string(o % 250) + ":443",
                  sni);
}

std::vector<CertInfo> Chain(int origin) {
  const int64_t now_s = kT0 / 1000;
  CertInfo leaf = TestLeaf(OriginName(origin) + ".example", {OriginName(origin) + ".example"},
                           now_s, 60, KeyType::kRsa, FakeSha256("leaf" + std::to_string(origin) + "-"));
  CertInfo inter = TestIntermediate(now_s);
  leaf.der.resize(kDerBytes, 'd');
  inter.der.resize(kDerBytes, 'i');
  return {std::move(leaf), std::move(inter)};
}

// The certificates the store holds (filled by the store, read by Result()).
std::shared_ptr<KnownCertificates> g_known;

// The i-th result of the benchmark's sequence (variant i % kVariants).
ProbeResult Result(int64_t i) {
  const int variant = static_cast<int>(i % kVariants);
  const int64_t ts = kT0 + i * 30;
  const ProbeSpec spec = Spec(variant);
  if (i % 5 == 4) {
    return FailedResult(spec, ts, Outcome::kConnectTimeout, -1,
                        "connect timed out after 5000 ms");
  }
  std::vector<CertInfo> chain = Chain(variant / kVariantsPerOrigin);
  for (CertInfo& c : chain) {
    if (g_known && g_known->Contains(c.sha256_hex)) c.der.clear();
  }
  return WithNamesCovered(OkResult(spec, ts, std::move(chain)));
}

// A commit as Evaluator::OnResult builds it for result i.
Commit MakeCommit(int64_t i) {
  Commit c;
  c.probe = Result(i);
  const ProbeResult& r = *c.probe;
  c.at_ms = r.started_at_ms + r.total_ms;
  const bool ok = r.ok();
  c.lead = ok ? FindingRecord{"healthy", "every variant serves a valid certificate"}
              : FindingRecord{"connect_timeout", "the address does not answer on port 443"};
  c.counts = VariantCounts{ok ? 0 : 1, ok ? 1 : 0, ok ? 0 : r.started_at_ms};
  const std::string vkey = r.spec.address + "|" + r.spec.sni.value_or("") + "|" + r.spec.profile;
  c.states.push_back({"variant:" + r.spec.origin + "|" + vkey,
                      "{\"origin\":\"" + r.spec.origin + "\",\"variant_key\":\"" + vkey +
                          "\",\"failures\":" + (ok ? "0" : "1") +
                          ",\"successes\":1,\"last_outcome\":" + std::to_string(int(r.outcome)) +
                          ",\"leaf\":{\"sha256\":\"" + FakeSha256("leaf") +
                          "\",\"not_after\":1785184000},\"rules\":{}}",
                      false});
  if (i % 20 == 7) {
    const std::string key = r.spec.origin + "|probe_failing|" + vkey;
    c.episodes.push_back({key, i / 20 + 1, 0});
    EventRecord e;
    e.event_id = key + "#" + std::to_string(i / 20 + 1) + ":firing";
    e.kind = "firing";
    e.rule = "probe_failing";
    e.severity = "critical";
    e.dedup_key = key;
    e.origin = r.spec.origin;
    e.variant = vkey;
    e.address = r.spec.address;
    e.finding_code = "connect_timeout";
    e.summary = "the address does not answer on port 443";
    e.fix = "check the firewall and the load balancer's health of this address";
    e.at_ms = c.at_ms;
    e.payload = std::string(600, 'p');
    e.webhooks = {"ops"};
    c.events.push_back(std::move(e));
  }
  if (i % 10 == 3) c.seen_keys.push_back(r.spec.origin + "|probe_failing|" + vkey);
  return c;
}

std::unique_ptr<Store> OpenBenchStore(const TempDir& dir, bool known_certs) {
  Store::Options o;
  o.path = (dir.path / "bench.db").string();
  o.queue_capacity = kRound + 1;
  g_known = known_certs ? std::make_shared<KnownCertificates>() : nullptr;
  o.known_certs = g_known;
  auto s = Store::Open(o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().message().c_str());
    std::abort();
  }
  std::unique_ptr<Store> store = std::move(s).value();
  std::vector<OriginRecord> records;
  for (int i = 0; i < kOrigins; ++i) {
    records.push_back({OriginName(i), OriginName(i) + ".example", 443, {"bench"}});
  }
  if (!store->SyncOrigins(records, kT0).ok()) std::abort();
  for (int v = 0; v < kVariants; ++v) {
    store->Enqueue(WithNamesCovered(OkResult(Spec(v), kT0 - 60'000, Chain(v / kVariantsPerOrigin))));
  }
  store->Flush();
  return store;
}

template <typename Item, typename Make>
void RunRounds(benchmark::State& state, Make make) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenBenchStore(dir, state.range(0) != 0);
  const Store::Stats s0 = store->stats();
  int64_t next = 0;
  int64_t items = 0;
  double wall_s = 0;
  std::vector<Item> round;
  for (auto _ : state) {
    round.clear();
    round.reserve(kRound);
    for (int i = 0; i < kRound; ++i) round.push_back(make(next++));
    const auto start = std::chrono::steady_clock::now();
    for (Item& it : round) store->Enqueue(std::move(it));
    store->Flush();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(s);
    wall_s += s;
    items += kRound;
  }
  const Store::Stats s1 = store->stats();
  store->Close();
  if (g_known && g_known->size() != static_cast<size_t>(kOrigins + 1)) {
    state.SkipWithError("known_certs does not hold the stored certificates");
  }
  state.counters["certs_without_der"] = static_cast<double>(s1.certs_without_der);
  const double cpu_s = static_cast<double>(s1.writer_cpu_ns - s0.writer_cpu_ns) / 1e9;
  state.counters["items/s"] = benchmark::Counter(static_cast<double>(items), benchmark::Counter::kIsRate);
  state.counters["writer_items/s"] = cpu_s > 0 ? static_cast<double>(items) / cpu_s : 0;
  state.counters["writer_cpu_s"] = cpu_s;
  state.counters["errors"] =
      static_cast<double>(s1.write_errors + s1.dropped_queue_full) +
      std::abs(static_cast<double>(s1.commits - s0.commits) - static_cast<double>(items));
  state.counters["batches"] = static_cast<double>(s1.batches - s0.batches);
}

void BM_ProbeRows(benchmark::State& state) { RunRounds<ProbeResult>(state, Result); }
BENCHMARK(BM_ProbeRows)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(4);

void BM_Commits(benchmark::State& state) { RunRounds<Commit>(state, MakeCommit); }
BENCHMARK(BM_Commits)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(4);

}  // namespace
}  // namespace originwatch::testing

BENCHMARK_MAIN();
