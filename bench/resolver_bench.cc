// What the agent's DNS costs at scale: 10,000 origins on 20 names (500 origins
// per name, as when many origins sit behind a few CDN names), every origin
// resolved through one Resolver and its shared TTL cache against a real
// dnsmasq on loopback (4 A records per name, Family::kAny as the agent asks,
// so a lookup is one A and one AAAA query).
//
// One benchmark iteration is one interval round: each origin calls Resolve for
// its name (origins interleaved over the names) with a callback that counts
// answers, and the round ends when all 10,000 are answered. Each run starts a
// fresh Resolver and fills its cache with one warm-up round outside the timing.
// Time is wall-clock per round (UseRealTime: the benchmark thread mostly waits).
//   BM_RoundCached       records with TTL 300 s: the timed rounds run while
//                        the TTLs hold, so they should send no lookup.
//   BM_RoundTtlExpired   records with TTL 1 s and ttl_floor_ms = 1 (the
//                        default 30 s floor would keep them), and a 1.1 s sleep
//                        outside the timing before each round, so every round
//                        finds the cache expired: it should cost one lookup per
//                        name (the other 499 requests coalesce or hit the
//                        fresh answer), not 10,000. Fixed at 10 iterations.
// Counters: "first_round_lookups" (the warm-up round's, ~20); per timed round
// "lookups_per_round" (lookups sent), "lookups_per_minute" (the same at a 60 s
// interval), "cache_hits", "coalesced"; "latency_mean_us" and
// "latency_max_us", the time from Resolve() to its callback (steady_clock,
// captured per request) averaged over a round's requests and the largest of a
// round, each then averaged over the rounds; "requests/s" (rate).
//
// Run (build with -DORIGINWATCH_BUILD_TESTS=ON, dnsmasq installed):
//   cmake --build build-bench --target resolver_bench &&
//   build-bench/bench/resolver_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dns/dns_servers.h"
#include "originwatch/resolver.h"

namespace originwatch {
namespace {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC

constexpr int kNames = 20;
constexpr int kOrigins = 10000;
constexpr int kAddressesPerName = 4;
constexpr double kIntervalS = 60;

std::string NameOf(int n) { return "cdn-" + std::to_string(n) + ".test"; }

// One dnsmasq per record TTL, started on first use and kept for the process.
testing::Dnsmasq* Server(int ttl_s, std::string* error) {
  auto start = [ttl_s, error] {
    std::vector<std::string> args = {"--local=/test/"};
    for (int n = 0; n < kNames; ++n) {
      for (int a = 0; a < kAddressesPerName; ++a) {
        args.push_back("--host-record=" + NameOf(n) + ",192.0.2." +
                       std::to_string(n * kAddressesPerName + a + 1) + "," +
                       std::to_string(ttl_s));
      }
    }
    return testing::Dnsmasq::Start(args, error);
  };
  if (ttl_s == 1) {
    static std::unique_ptr<testing::Dnsmasq> short_ttl = start();
    return short_ttl.get();
  }
  static std::unique_ptr<testing::Dnsmasq> long_ttl = start();
  return long_ttl.get();
}

// Written by the callbacks, which run one at a time on the resolver thread;
// read by the benchmark thread once `answered` reaches kOrigins.
struct Round {
  std::atomic<int> answered{0};
  int failed = 0;
  int64_t sum_ns = 0;
  int64_t max_ns = 0;
};

struct Totals {
  int rounds = 0;
  int failed = 0;
  double sum_mean_us = 0;
  double sum_max_us = 0;
};

// One interval round: every origin asks for its name; waits for all answers.
void RunRound(Resolver& resolver, const std::vector<std::string>& names, Round& round,
              Totals& totals) {
  round.answered.store(0);
  round.failed = 0;
  round.sum_ns = 0;
  round.max_ns = 0;
  for (int i = 0; i < kOrigins; ++i) {
    const Clock::time_point asked = Clock::now();
    resolver.Resolve(names[i % kNames], Family::kAny, [&round, asked](DnsAnswer a) {
      const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             Clock::now() - asked).count();
      round.sum_ns += ns;
      round.max_ns = std::max(round.max_ns, ns);
      if (a.outcome != Outcome::kOk) ++round.failed;
      if (round.answered.fetch_add(1) + 1 == kOrigins) round.answered.notify_one();
    });
  }
  for (int seen = round.answered.load(); seen < kOrigins; seen = round.answered.load()) {
    round.answered.wait(seen);
  }
  ++totals.rounds;
  totals.failed += round.failed;
  totals.sum_mean_us += static_cast<double>(round.sum_ns) / kOrigins / 1000.0;
  totals.sum_max_us += static_cast<double>(round.max_ns) / 1000.0;
}

std::unique_ptr<Resolver> StartResolver(benchmark::State& state, int ttl_s, int64_t floor_ms) {
  std::string error;
  testing::Dnsmasq* dns = Server(ttl_s, &error);
  if (dns == nullptr) {
    state.SkipWithError(("dnsmasq: " + error).c_str());
    return nullptr;
  }
  ResolverOptions o;
  o.servers = {dns->server()};
  o.ttl_floor_ms = floor_ms;
  auto r = Resolver::Start(o);
  if (!r.ok()) {
    state.SkipWithError(("resolver: " + r.status().message()).c_str());
    return nullptr;
  }
  return std::move(r).value();
}

// A fresh resolver (empty cache) per run; `sleep_ms` is slept, untimed,
// before each round.
void RunRounds(benchmark::State& state, int ttl_s, int64_t floor_ms, int sleep_ms) {
  Round round;  // outlives the resolver: its thread touches it until joined
  std::unique_ptr<Resolver> resolver = StartResolver(state, ttl_s, floor_ms);
  if (!resolver) return;
  std::vector<std::string> names;
  for (int n = 0; n < kNames; ++n) names.push_back(NameOf(n));

  Totals warmup;  // the empty cache's round: ~1 lookup per name
  RunRound(*resolver, names, round, warmup);
  const Resolver::Stats before = resolver->stats();
  if (warmup.failed != 0) {
    state.SkipWithError("warm-up answers were not kOk");
    return;
  }
  Totals totals;
  for (auto _ : state) {
    if (sleep_ms > 0) {
      state.PauseTiming();
      std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
      state.ResumeTiming();
    }
    RunRound(*resolver, names, round, totals);
  }
  const Resolver::Stats after = resolver->stats();

  const double rounds = totals.rounds;
  const double lookups = static_cast<double>(after.lookups_sent - before.lookups_sent) / rounds;
  state.counters["first_round_lookups"] = static_cast<double>(before.lookups_sent);
  state.counters["lookups_per_round"] = lookups;
  state.counters["lookups_per_minute"] = lookups * 60.0 / kIntervalS;
  state.counters["cache_hits"] = static_cast<double>(after.cache_hits - before.cache_hits) / rounds;
  state.counters["coalesced"] = static_cast<double>(after.coalesced - before.coalesced) / rounds;
  state.counters["latency_mean_us"] = totals.sum_mean_us / rounds;
  state.counters["latency_max_us"] = totals.sum_max_us / rounds;
  state.counters["requests/s"] =
      benchmark::Counter(rounds * kOrigins, benchmark::Counter::kIsRate);
  if (totals.failed != 0) state.SkipWithError("some answers were not kOk");
}

void BM_RoundCached(benchmark::State& state) {
  RunRounds(state, /*ttl_s=*/300, ResolverOptions{}.ttl_floor_ms, /*sleep_ms=*/0);
}
BENCHMARK(BM_RoundCached)->UseRealTime()->Unit(benchmark::kMillisecond);

// The 1.1 s sleep lets the 1 s TTL run out; the default 30 s floor would not.
void BM_RoundTtlExpired(benchmark::State& state) {
  RunRounds(state, /*ttl_s=*/1, /*floor_ms=*/1, /*sleep_ms=*/1100);
}
BENCHMARK(BM_RoundTtlExpired)->UseRealTime()->Iterations(10)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace originwatch

BENCHMARK_MAIN();
