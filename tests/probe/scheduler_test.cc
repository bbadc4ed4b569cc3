// Proves, with a fake clock and no sleeps, that the scheduler starts every probe once per
// interval with phases spread over it, never runs a probe twice at once, respects the
// global and per-address caps, survives reloads and stalls without bursts, and that an
// origin's config expands into the probes people expect.
#include "originwatch/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace originwatch {
namespace testing {
namespace {

constexpr int64_t kMinute = 60000;

// One probe of origin `name` on `address` (nothing connects: the scheduler only
// orders specs).
ScheduledProbe Probe(const std::string& name, const std::string& address = "127.0.0.1",
                     int64_t interval_ms = kMinute) {
  ScheduledProbe p;
  p.spec.origin = name;
  p.spec.host = name + ".example";
  p.spec.address = address;
  p.spec.sni = p.spec.host;
  p.interval_ms = interval_ms;
  return p;
}

std::vector<ScheduledProbe> Probes(int n, int addresses, int64_t interval_ms = kMinute) {
  std::vector<ScheduledProbe> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(Probe("o" + std::to_string(i), "127.0.0." + std::to_string(1 + i % addresses),
                        interval_ms));
  }
  return out;
}

struct Start {
  int64_t at;
  ProbeSpec spec;
};

// Advances the clock from `from` (inclusive) to `to` (exclusive) in `step`
// increments, completing every probe as soon as it starts.
std::vector<Start> RunClock(Scheduler& s, int64_t from, int64_t to, int64_t step) {
  std::vector<Start> starts;
  for (int64_t t = from; t < to; t += step) {
    for (ProbeSpec& spec : s.TakeDue(t)) {
      EXPECT_TRUE(s.Complete(spec.id));
      starts.push_back(Start{t, std::move(spec)});
    }
  }
  return starts;
}

// Start offset within the interval of each probe, by key.
std::map<std::string, int64_t> Offsets(const std::vector<Start>& starts, int64_t interval) {
  std::map<std::string, int64_t> out;
  for (const Start& s : starts)
    out[ScheduleKey(s.spec)] = ((s.at % interval) + interval) % interval;
  return out;
}

TEST(SchedulerTest, StartPhasesAreSpreadOverTheIntervalWithoutAHerd) {
  // Two starts: at t=0 and at an arbitrary wall-clock time.
  for (int64_t start : {int64_t{0}, int64_t{1'700'000'123'457}}) {
    SCOPED_TRACE(start);
    Scheduler s(Scheduler::Options{100000, 100000});
    s.SetProbes(Probes(600, 50), start);
    auto starts = RunClock(s, start, start + kMinute, 1);
    ASSERT_EQ(starts.size(), 600u);
    std::set<std::string> keys;
    for (const Start& st : starts) keys.insert(ScheduleKey(st.spec));
    EXPECT_EQ(keys.size(), 600u) << "each probe once in its first interval";
    int at_start = 0;
    for (const Start& st : starts) at_start += st.at == start ? 1 : 0;
    EXPECT_LE(at_start, 2) << "a herd at the start";
    // 600 starts over 60 one-second windows: 10 on average.
    std::vector<int> per_second(60, 0);
    for (const Start& st : starts) ++per_second[(st.at - start) / 1000];
    for (int i = 0; i < 60; ++i) {
      EXPECT_LE(per_second[i], 20) << "window " << i;
      EXPECT_GE(per_second[i], 5) << "window " << i;
    }
    // A second scheduler given the same set at the same time starts the same probes at
    // the same times.
    Scheduler again(Scheduler::Options{100000, 100000});
    again.SetProbes(Probes(600, 50), start);
    auto starts2 = RunClock(again, start, start + kMinute, 1);
    ASSERT_EQ(starts2.size(), starts.size());
    for (size_t i = 0; i < starts.size(); ++i) {
      EXPECT_EQ(starts2[i].at, starts[i].at);
      EXPECT_EQ(ScheduleKey(starts2[i].spec), ScheduleKey(starts[i].spec));
    }
  }
}

TEST(SchedulerTest, PhasesAreDeterministicAcrossRestartsAndInputOrder) {
  auto probes = Probes(300, 7);
  Scheduler a;
  a.SetProbes(probes, 0);
  auto first = Offsets(RunClock(a, 0, kMinute, 1), kMinute);
  // A restart at another time, with the config listing the origins in another order.
  std::reverse(probes.begin(), probes.end());
  Scheduler b;
  const int64_t restart = 5 * kMinute + 12345;
  b.SetProbes(probes, restart);
  auto second = Offsets(RunClock(b, restart, restart + kMinute, 1), kMinute);
  ASSERT_EQ(first.size(), 300u);
  EXPECT_EQ(second, first);
}

TEST(SchedulerTest, EveryProbeRunsOncePerIntervalOverTenIntervals) {
  auto probes = Probes(40, 4, 10000);
  auto slow = Probes(10, 2, 20000);
  for (auto& p : slow) p.spec.origin = "slow-" + p.spec.origin;
  probes.insert(probes.end(), slow.begin(), slow.end());
  Scheduler s;
  s.SetProbes(probes, 0);
  auto starts = RunClock(s, 0, 10 * 10000, 1);
  std::map<std::string, int> count;
  for (const Start& st : starts) ++count[st.spec.origin];
  ASSERT_EQ(count.size(), 50u);
  for (const auto& [origin, n] : count) {
    EXPECT_EQ(n, origin.starts_with("slow-") ? 5 : 10) << origin;
  }
  EXPECT_EQ(s.stats().started, 40u * 10 + 10u * 5);
  EXPECT_EQ(s.stats().skipped_in_flight, 0u);
  EXPECT_EQ(s.stats().in_flight, 0u);
}

TEST(SchedulerTest, ProbeStillInFlightWhenDueIsSkippedAndCountedNotStartedTwice) {
  Scheduler s;
  s.SetProbes({Probe("a", "127.0.0.1", 1000)}, 0);
  int64_t due = *s.NextDue();
  auto started = s.TakeDue(due);
  ASSERT_EQ(started.size(), 1u);
  uint64_t id = started[0].id;
  EXPECT_TRUE(s.TakeDue(due + 1000).empty());
  EXPECT_EQ(s.stats().skipped_in_flight, 1u);
  EXPECT_TRUE(s.TakeDue(due + 2000).empty());
  EXPECT_EQ(s.stats().skipped_in_flight, 2u);
  EXPECT_EQ(s.stats().in_flight, 1u);
  EXPECT_TRUE(s.Complete(id));
  EXPECT_FALSE(s.Complete(id)) << "a second completion is not a second slot";
  EXPECT_TRUE(s.TakeDue(due + 2500).empty()) << "the skipped turn is not made up";
  EXPECT_EQ(s.NextDue(), due + 3000);
  auto next = s.TakeDue(due + 3000);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].id, id);
  EXPECT_EQ(s.stats().started, 2u);
}

TEST(SchedulerTest, GlobalCapHoldsProbesBackUntilASlotFrees) {
  Scheduler s(Scheduler::Options{5, 100});
  s.SetProbes(Probes(20, 20), 0);
  const int64_t now = kMinute - 1;  // every probe is due
  auto first = s.TakeDue(now);
  ASSERT_EQ(first.size(), 5u);
  EXPECT_EQ(s.stats().in_flight, 5u);
  EXPECT_EQ(s.stats().held, 15u);
  EXPECT_EQ(s.stats().deferred_cap, 15u);
  EXPECT_TRUE(s.TakeDue(now).empty());
  ASSERT_TRUE(s.NextDue().has_value());
  EXPECT_GT(*s.NextDue(), now) << "nothing can start before a completion";

  ASSERT_TRUE(s.Complete(first[0].id));
  EXPECT_LE(*s.NextDue(), now) << "a freed slot makes a held probe due";
  auto one = s.TakeDue(now);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(s.stats().in_flight, 5u);
  EXPECT_EQ(s.stats().deferred_cap, 15u) << "a deferral is counted once per turn";

  std::vector<ProbeSpec> running(first.begin() + 1, first.end());
  running.push_back(one[0]);
  std::set<uint64_t> ids;
  for (auto& p : first) ids.insert(p.id);
  ids.insert(one[0].id);
  for (int round = 0; round < 10 && s.stats().held > 0; ++round) {
    for (auto& p : running) EXPECT_TRUE(s.Complete(p.id));
    running = s.TakeDue(now);
    EXPECT_LE(running.size(), 5u);
    EXPECT_EQ(s.stats().in_flight, running.size());
    for (auto& p : running) EXPECT_TRUE(ids.insert(p.id).second) << "started twice";
  }
  EXPECT_EQ(ids.size(), 20u);
  EXPECT_EQ(s.stats().held, 0u);
  EXPECT_EQ(s.stats().deferred_cap, 15u);
}

TEST(SchedulerTest, PerAddressCapProtectsOneIpWithoutBlockingOthers) {
  Scheduler s(Scheduler::Options{100, 2});
  std::vector<ScheduledProbe> probes;
  for (int i = 0; i < 10; ++i) probes.push_back(Probe("shared" + std::to_string(i), "127.0.0.1"));
  for (int i = 0; i < 5; ++i) {
    probes.push_back(Probe("other" + std::to_string(i), "127.0.0." + std::to_string(2 + i)));
  }
  s.SetProbes(probes, 0);
  const int64_t now = kMinute - 1;

  auto started = s.TakeDue(now);
  std::map<std::string, int> per_address;
  for (auto& p : started) ++per_address[p.address];
  EXPECT_EQ(per_address["127.0.0.1"], 2);
  EXPECT_EQ(started.size(), 2u + 5u) << "other IPs are not blocked";
  EXPECT_EQ(s.stats().held, 8u);

  std::vector<ProbeSpec> running;
  for (auto& p : started) {
    if (p.address == "127.0.0.1") running.push_back(p);
  }
  std::set<std::string> shared_started;
  for (auto& p : running) shared_started.insert(p.origin);
  for (int round = 0; round < 20 && !running.empty(); ++round) {
    ASSERT_TRUE(s.Complete(running.front().id));
    running.erase(running.begin());
    for (auto& p : s.TakeDue(now)) {
      EXPECT_EQ(p.address, "127.0.0.1");
      EXPECT_TRUE(shared_started.insert(p.origin).second) << "started twice: " << p.origin;
      running.push_back(p);
    }
    EXPECT_LE(running.size(), 2u);
  }
  EXPECT_EQ(shared_started.size(), 10u);
  EXPECT_EQ(s.stats().deferred_cap, 8u);
}

TEST(SchedulerTest, ReloadKeepsUnchangedPhasesSpreadsNewOnesAndDropsRemovedOnes) {
  Scheduler s(Scheduler::Options{1000, 1000});
  auto probes = Probes(30, 3);
  s.SetProbes(probes, 0);
  auto before = Offsets(RunClock(s, 0, kMinute, 1), kMinute);
  // Start one probe that will be removed, and keep it in flight across the reload.
  const std::string removed_key = ScheduleKey(probes[0].spec);
  uint64_t removed_id = 0;
  int64_t t = kMinute;
  for (; t < 2 * kMinute && removed_id == 0; ++t) {
    for (auto& p : s.TakeDue(t)) {
      if (ScheduleKey(p) == removed_key) {
        removed_id = p.id;
      } else {
        s.Complete(p.id);
      }
    }
  }
  ASSERT_NE(removed_id, 0u);

  // Reload: drop probe 0, change probe 1's interval, add 20 new probes.
  std::vector<ScheduledProbe> next(probes.begin() + 1, probes.end());
  next[0].interval_ms = 2 * kMinute;
  const std::string rephased_key = ScheduleKey(next[0].spec);
  for (int i = 0; i < 20; ++i) next.push_back(Probe("new" + std::to_string(i), "127.0.0.9"));
  const int64_t reload = 2 * kMinute + 30000;
  // The rest of the second interval runs as usual.
  RunClock(s, t, reload, 1);
  s.SetProbes(next, reload);
  EXPECT_EQ(s.stats().probes, 49u);
  EXPECT_EQ(s.stats().in_flight, 1u) << "the removed probe still holds its slot";

  auto starts = RunClock(s, reload, reload + kMinute, 1);
  auto after = Offsets(starts, kMinute);
  EXPECT_EQ(after.count(removed_key), 0u) << "a removed probe never starts again";
  int kept = 0;
  for (const auto& [key, offset] : before) {
    if (key == removed_key || key == rephased_key) continue;
    ASSERT_EQ(after.count(key), 1u) << key;
    EXPECT_EQ(after.at(key), offset) << "reload moved " << key;
    ++kept;
  }
  EXPECT_EQ(kept, 28);
  // The 20 new ones start within one interval, spread (at most 2 per second).
  std::map<int64_t, int> new_per_second;
  int new_started = 0;
  for (const Start& st : starts) {
    if (st.spec.origin.starts_with("new")) {
      ++new_started;
      ++new_per_second[(st.at - reload) / 1000];
    }
  }
  EXPECT_EQ(new_started, 20);
  for (const auto& [second, n] : new_per_second) EXPECT_LE(n, 2) << "second " << second;

  EXPECT_TRUE(s.Complete(removed_id)) << "completing a removed probe frees its slot";
  EXPECT_EQ(s.stats().in_flight, 0u);
  EXPECT_FALSE(s.Complete(removed_id));
  // Two more intervals: the re-phased probe runs once per 2 minutes, the removed one never.
  auto later = RunClock(s, reload + kMinute, reload + 3 * kMinute, 1);
  int rephased = 0;
  for (const Start& st : later) {
    EXPECT_NE(ScheduleKey(st.spec), removed_key);
    if (ScheduleKey(st.spec) == rephased_key) ++rephased;
  }
  EXPECT_EQ(rephased, 1);
}

TEST(SchedulerTest, ReloadKeepsIdsAndARemovedProbeComingBackIsStillInFlight) {
  Scheduler s;
  auto probes = Probes(3, 1, 1000);
  s.SetProbes(probes, 0);
  auto started = RunClock(s, 0, 1000, 1);
  ASSERT_EQ(started.size(), 3u);
  std::map<std::string, uint64_t> ids;
  for (auto& st : started) ids[ScheduleKey(st.spec)] = st.spec.id;

  // Start probe 0, remove it while it runs, bring it back before it completes.
  const std::string key0 = ScheduleKey(probes[0].spec);
  uint64_t id0 = 0;
  for (int64_t t = 1000; t < 2000 && id0 == 0; ++t) {
    for (auto& p : s.TakeDue(t)) {
      if (p.id == ids[key0]) {
        id0 = p.id;
      } else {
        s.Complete(p.id);
      }
    }
  }
  ASSERT_EQ(id0, ids[key0]) << "ids are stable across turns";
  s.SetProbes({probes[1], probes[2]}, 2000);
  s.SetProbes(probes, 2001);
  EXPECT_EQ(s.stats().probes, 3u);
  EXPECT_EQ(s.stats().in_flight, 1u);
  auto again = RunClock(s, 2001, 5000, 1);  // completes everything it starts
  for (auto& st : again) {
    EXPECT_EQ(st.spec.id, ids.at(ScheduleKey(st.spec)));
    EXPECT_NE(st.spec.id, id0) << "started while its previous run is in flight";
  }
  EXPECT_TRUE(s.Complete(id0));
  EXPECT_EQ(RunClock(s, 5000, 6000, 1).size(), 3u);
}

TEST(SchedulerTest, StalledAgentDoesNotBurstMissedTurns) {
  Scheduler s;
  s.SetProbes({Probe("a", "127.0.0.1", 1000), Probe("b", "127.0.0.1", 1000)}, 0);
  auto first = RunClock(s, 0, 1000, 1);
  ASSERT_EQ(first.size(), 2u);
  std::map<uint64_t, int64_t> phase;
  for (auto& st : first) phase[st.spec.id] = st.at % 1000;

  const int64_t stalled = 11 * 1000 + 999;  // ten whole intervals later
  auto burst = s.TakeDue(stalled);
  EXPECT_EQ(burst.size(), 2u) << "one start per probe, not ten";
  for (auto& p : burst) s.Complete(p.id);
  EXPECT_TRUE(s.TakeDue(stalled).empty());
  ASSERT_TRUE(s.NextDue().has_value());
  EXPECT_GT(*s.NextDue(), stalled);
  // The next turns are back on each probe's phase grid.
  auto next = RunClock(s, stalled + 1, stalled + 1001, 1);
  ASSERT_EQ(next.size(), 2u);
  for (auto& st : next) EXPECT_EQ(st.at % 1000, phase.at(st.spec.id));
  EXPECT_EQ(s.stats().skipped_in_flight, 0u);
}

TEST(SchedulerTest, NextDueIsTheEarliestStartOrNothing) {
  Scheduler s;
  EXPECT_EQ(s.NextDue(), std::nullopt);
  EXPECT_TRUE(s.TakeDue(0).empty());
  s.SetProbes(Probes(50, 5), 1000);
  ASSERT_TRUE(s.NextDue().has_value());
  int64_t due = *s.NextDue();
  EXPECT_GE(due, 1000);
  EXPECT_LT(due, 1000 + kMinute);
  if (due > 1000) {
    EXPECT_TRUE(s.TakeDue(due - 1).empty()) << "NextDue is not late";
  }
  auto started = s.TakeDue(due);
  EXPECT_FALSE(started.empty()) << "NextDue is not early";
  for (auto& p : started) s.Complete(p.id);
  EXPECT_GT(*s.NextDue(), due);
  s.SetProbes({}, due);
  EXPECT_EQ(s.NextDue(), std::nullopt);
  EXPECT_EQ(s.stats().probes, 0u);
}

TEST(SchedulerTest, DuplicateKeysAreScheduledOnce) {
  Scheduler s;
  auto a = Probe("a");
  auto no_sni = a;
  no_sni.spec.sni = std::nullopt;
  s.SetProbes({a, a, no_sni}, 0);
  EXPECT_EQ(s.stats().probes, 2u);
  EXPECT_NE(ScheduleKey(a.spec), ScheduleKey(no_sni.spec));
  auto empty_sni = a;
  empty_sni.spec.sni = "";
  EXPECT_NE(ScheduleKey(empty_sni.spec), ScheduleKey(no_sni.spec));
  EXPECT_EQ(RunClock(s, 0, kMinute, 100).size(), 2u);
}

TEST(SchedulerTest, PlanOriginExpandsAddressesSniAndProfilesWithTheOriginsTimes) {
  OriginConfig o;
  o.name = "promo";
  o.host = "activity.example.com";
  o.port = 8443;
  o.sni = {std::string("activity.example.com"), std::nullopt};
  o.profiles = {"modern", "legacy-rsa"};
  o.expect_names = {"activity.example.com"};
  o.interval_ms = 30000;
  o.timeout_ms = 7000;
  o.connect_timeout_ms = 3000;
  auto plan = PlanOrigin(o, {"127.0.0.1", "::1", "127.0.0.1"});
  ASSERT_EQ(plan.size(), 2u * 2u * 2u) << "the duplicate address is dropped";
  EXPECT_EQ(plan[0].spec.address, "127.0.0.1");
  EXPECT_EQ(plan[0].spec.sni, std::optional<std::string>("activity.example.com"));
  EXPECT_EQ(plan[0].spec.profile, "modern");
  EXPECT_EQ(plan[1].spec.profile, "legacy-rsa");
  EXPECT_EQ(plan[2].spec.sni, std::nullopt);
  EXPECT_EQ(plan[7].spec.address, "::1");
  std::set<std::string> keys;
  for (const auto& p : plan) {
    keys.insert(ScheduleKey(p.spec));
    EXPECT_EQ(p.interval_ms, 30000);
    EXPECT_EQ(p.spec.timeout_ms, 7000);
    EXPECT_EQ(p.spec.connect_timeout_ms, 3000);
    EXPECT_EQ(p.spec.port, 8443);
    EXPECT_EQ(p.spec.origin, "promo");
    EXPECT_EQ(p.spec.host, "activity.example.com");
    EXPECT_EQ(p.spec.expect_names, o.expect_names);
  }
  EXPECT_EQ(keys.size(), 8u) << "every variant is a distinct probe";
}

TEST(SchedulerTest, PlanOriginFillsDefaultsOfAHandBuiltOrigin) {
  OriginConfig o;
  o.name = "ip";
  o.host = "127.0.0.1";
  auto plan = PlanOrigin(o, {"127.0.0.1"});
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].spec.sni, std::nullopt) << "no SNI for an IP literal";
  EXPECT_EQ(plan[0].spec.profile, "modern");
  const AgentConfig defaults;
  EXPECT_EQ(plan[0].interval_ms, defaults.interval_ms);
  EXPECT_EQ(plan[0].spec.timeout_ms, defaults.timeout_ms);
  EXPECT_EQ(plan[0].spec.connect_timeout_ms, defaults.connect_timeout_ms);
  EXPECT_TRUE(PlanOrigin(o, {}).empty());
}

}  // namespace
}  // namespace testing
}  // namespace originwatch
