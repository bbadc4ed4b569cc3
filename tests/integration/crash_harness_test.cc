// Proves that the agent's history and alerts survive SIGKILL at seeded random
// points while origins flip between healthy and broken, move between
// addresses and ports (SIGHUP reloads between kills) and the webhook receiver
// fails for a phase: after a clean final run the database is intact, every
// probe row committed before a kill is still there, every alert event reached
// the receiver (repeats only under the same event id), firing and resolved
// alternate per alert key, no resolved event lacks its alert, and the open
// alerts are exactly the origins still broken, on their current address:port.
//
// ORIGINWATCH_CRASH_KILLS (default 20) and ORIGINWATCH_CRASH_SEED (default 12)
// set the size and the seed; bench/soak/run runs this binary with 100 kills.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "integration/crash_fixture.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  return (end != nullptr && *end == '\0' && n >= 0) ? n : fallback;
}

int64_t UnixMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr int kOrigins = 6;
constexpr int kAddresses = 4;  // 127.0.0.1 .. 127.0.0.4
constexpr int kPhaseCycles = 3;
constexpr int kPhaseEvery = 25;

// Probe rows as a read-only reader saw them just before a kill.
struct ProbeSnapshot {
  int64_t max_id = 0;
  int64_t count = 0;
  int64_t id_sum = 0;
};

class CrashHarnessTest : public CrashFixture {
 protected:
  Health RandomHealth() {
    const int r = static_cast<int>(rng_() % 4);
    return r < 2 ? Health::kHealthy : (r == 2 ? Health::kSniRequired : Health::kRefused);
  }
  std::string RandomAddress() { return "127.0.0." + std::to_string(1 + rng_() % kAddresses); }
  int64_t Uniform(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(rng_() % static_cast<uint64_t>(hi - lo + 1));
  }

  // Changes some origins: a new health in place, or a move to another
  // address and port. Returns the number of origins moved.
  int Mutate() {
    int moved = 0;
    for (CrashOrigin& o : origins_) {
      if (rng_() % 100 >= 35) continue;
      const Health h = RandomHealth();
      const bool move = rng_() % 100 < 40;
      const std::string address = move ? RandomAddress() : o.address;
      const uint16_t port = move ? 0 : o.port;
      if (!Place(o, address, port, h)) {
        // The old port was taken meanwhile: the origin moves instead.
        EXPECT_TRUE(Place(o, address, 0, h)) << o.name;
        ++moved;
      } else if (move) {
        ++moved;
      }
    }
    return moved;
  }

  std::optional<ProbeSnapshot> Snapshot() {
    auto q = Query("SELECT count(*), coalesce(max(id), 0), coalesce(sum(id), 0) FROM probes");
    if (!q || q->rows.empty() || !q->rows[0][0]) return std::nullopt;
    ProbeSnapshot s;
    s.count = std::stoll(*q->rows[0][0]);
    s.max_id = std::stoll(*q->rows[0][1]);
    s.id_sum = std::stoll(*q->rows[0][2]);
    return s;
  }

  std::set<std::string> BrokenOrigins() const {
    std::set<std::string> out;
    for (const CrashOrigin& o : origins_)
      if (o.health != Health::kHealthy) out.insert(o.name);
    return out;
  }

  std::mt19937_64 rng_;
  std::vector<CrashOrigin> origins_;
};

TEST_F(CrashHarnessTest,
       HistoryAndAlertsSurviveSigkillAtSeededPointsWithMovesReloadsAndAFailingReceiver) {
  const int64_t kills = EnvInt("ORIGINWATCH_CRASH_KILLS", 20);
  const int64_t seed = EnvInt("ORIGINWATCH_CRASH_SEED", 12);
  rng_.seed(static_cast<uint64_t>(seed));
  const auto started = Clock::now();

  origins_.resize(kOrigins);
  for (int i = 0; i < kOrigins; ++i) {
    origins_[i].name = "o" + std::to_string(i);
    ASSERT_TRUE(Place(origins_[i], RandomAddress(), 0, RandomHealth()));
  }
  WriteConfig(origins_);
  // Per period of kPhaseEvery kills: kPhaseCycles kills while the receiver
  // answers 500, later kPhaseCycles kills while it answers 200 after 700 ms
  // (kills then land while a delivery waits for its answer: the agent sends
  // that event again after the restart, under the same id).
  const int64_t fail_from = 1 + static_cast<int64_t>(rng_() % 9);
  const int64_t slow_from = fail_from + 4 + static_cast<int64_t>(rng_() % 5);

  std::vector<ProbeSnapshot> snapshots;
  int64_t reloads = 0, moves = 0, fail_cycles = 0, slow_cycles = 0;
  std::vector<std::pair<int64_t, int64_t>> fail_windows;  // unix ms while the receiver answered 500
  for (int64_t i = 0; i < kills; ++i) {
    const int64_t phase = i % kPhaseEvery;
    const bool failing = phase >= fail_from && phase < fail_from + kPhaseCycles;
    const bool slow = phase >= slow_from && phase < slow_from + kPhaseCycles;
    HttpReply reply;
    reply.status = failing ? 500 : 200;
    reply.delay_ms = slow ? 700 : 0;
    if (failing && fail_windows.empty()) fail_windows.push_back({UnixMs(), -1});
    if (failing && fail_windows.back().second >= 0) fail_windows.push_back({UnixMs(), -1});
    receiver_.SetDefault(reply);
    if (!failing && !fail_windows.empty() && fail_windows.back().second < 0)
      fail_windows.back().second = UnixMs();
    fail_cycles += failing ? 1 : 0;
    slow_cycles += slow ? 1 : 0;

    AgentProcess agent;
    const std::string log = (dir_ / ("agent-" + std::to_string(i) + ".log")).string();
    ASSERT_TRUE(agent.Start({OW_BINARY, "run", "-c", config_}, log));
    std::this_thread::sleep_for(milliseconds(Uniform(200, 1500)));
    moves += Mutate();
    WriteConfig(origins_);
    agent.Signal(SIGHUP);
    ++reloads;
    std::this_thread::sleep_for(milliseconds(Uniform(50, 2500)));
    ASSERT_TRUE(agent.running()) << "the agent died before kill " << i << ":\n" << agent.Log();
    if (auto s = Snapshot()) snapshots.push_back(*s);
    agent.Signal(SIGKILL);
    ASSERT_EQ(agent.Wait(milliseconds(5000)), 128 + SIGKILL);
  }

  // The clean final run: the receiver answers, the agent settles and stops.
  receiver_.SetDefault(HttpReply{});
  if (!fail_windows.empty() && fail_windows.back().second < 0)
    fail_windows.back().second = UnixMs();
  const std::set<std::string> broken = BrokenOrigins();
  AgentProcess last;
  ASSERT_TRUE(last.Start({OW_BINARY, "run", "-c", config_}, (dir_ / "final.log").string()));
  const bool settled = WaitFor(
      [&] {
        return OpenAlertOrigins() == broken &&
               Count("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0;
      },
      milliseconds(90000));
  // Two more rounds: nothing that settled may move again.
  std::this_thread::sleep_for(milliseconds(2500));
  last.Signal(SIGTERM);
  ASSERT_EQ(last.Wait(milliseconds(15000)), 0) << last.Log();
  EXPECT_TRUE(settled)
      << "open alerts never matched the broken origins, or deliveries stayed pending";

  // 1. The database is intact.
  auto ic = Query("PRAGMA integrity_check");
  ASSERT_TRUE(ic.has_value());
  ASSERT_EQ(ic->rows.size(), 1u);
  EXPECT_EQ(ic->rows[0][0].value_or(""), "ok");

  // 2. Every probe row committed before a kill is still there.
  ASSERT_GE(snapshots.size(), static_cast<size_t>(kills > 2 ? kills - 2 : 0))
      << "too few kills saw a database";
  for (size_t k = 0; k < snapshots.size(); ++k) {
    const ProbeSnapshot& s = snapshots[k];
    auto q = Query("SELECT count(*), coalesce(sum(id), 0) FROM probes WHERE id <= " +
                   std::to_string(s.max_id));
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(std::stoll(*q->rows[0][0]), s.count) << "probe rows lost after kill " << k;
    EXPECT_EQ(std::stoll(*q->rows[0][1]), s.id_sum) << "probe rows changed after kill " << k;
  }
  const int64_t probes = Count("SELECT count(*) FROM probes");
  ASSERT_GT(probes, 0);
  if (!snapshots.empty()) {
    EXPECT_GE(probes, snapshots.back().count);
  }

  // 3. Every event was delivered at least once; a repeat carries the same id
  //    and the same bytes; nothing was received that the store does not hold.
  auto ev = Query(
      "SELECT e.id, e.event_id, e.kind, e.alert_id, "
      "e.origin || '|' || e.rule || '|' || json_extract(e.payload, '$.address') || '|' || "
      "e.variant, e.payload, "
      "(SELECT group_concat(o.state) FROM outbox o WHERE o.event_row = e.id AND o.webhook = "
      "'ops'), "
      "e.origin FROM alert_events e ORDER BY e.id");
  ASSERT_TRUE(ev.has_value());
  std::map<std::string, std::string> stored;  // event_id -> payload
  for (const auto& r : ev->rows) {
    stored[*r[1]] = *r[5];
    EXPECT_EQ(r[6].value_or("(no outbox row)"), "delivered") << "event " << *r[1] << " " << *r[2];
  }
  std::map<std::string, int> received, accepted;  // requests per event id; those answered 200
  int64_t refused = 0;
  for (const HttpRequest& req : receiver_.requests()) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << req.body;
    const std::string id = j["event_id"];
    ++received[id];
    bool in_fail_window = false;
    for (const auto& [from, to] : fail_windows)
      in_fail_window |= req.at_ms >= from && req.at_ms <= to;
    if (in_fail_window) {
      ++refused;
    } else {
      ++accepted[id];
    }
    auto it = stored.find(id);
    if (it == stored.end()) {
      ADD_FAILURE() << "received an event the store does not hold: " << req.body;
      continue;
    }
    EXPECT_EQ(req.body, it->second) << "a repeat of " << id << " differs";
  }
  // The outbox says "delivered" only after a 2xx from this receiver; the
  // request itself must be here too.
  for (const auto& [id, payload] : stored)
    EXPECT_GT(received.count(id), 0u) << "never delivered: " << payload;
  int64_t duplicates = 0;
  for (const auto& [id, n] : accepted) duplicates += n - 1;

  // 4. firing/resolved strictly alternate per key; every firing and resolved
  //    names its alert row (same key); one firing per alert row.
  std::map<std::string, std::string> last_kind;  // key -> firing | resolved
  std::map<int64_t, int> firings_per_alert, resolved_per_alert;
  std::map<std::string, std::set<int64_t>> alert_of_key;
  int64_t firing = 0, resolved = 0;
  for (const auto& r : ev->rows) {
    const std::string kind = *r[2];
    if (kind != "firing" && kind != "resolved") continue;
    const std::string key = r[4].value_or("");
    ASSERT_TRUE(r[3].has_value()) << kind << " event without its alert: " << *r[5];
    const int64_t alert_id = std::stoll(*r[3]);
    EXPECT_EQ(
        Count(
            "SELECT count(*) FROM alerts a JOIN alert_events e ON e.alert_id = a.id WHERE e.id = " +
            *r[0] +
            " AND a.origin = e.origin AND a.rule = e.rule AND a.variant = e.variant AND "
            "instr(a.dedup_key, '|' || json_extract(e.payload, '$.address') || '|') > 0"),
        1)
        << kind << " event names alert " << alert_id << " of another key: " << key;
    alert_of_key[key].insert(alert_id);
    if (kind == "firing") {
      ++firing;
      EXPECT_NE(last_kind[key], "firing") << "two firings in a row for " << key;
      ++firings_per_alert[alert_id];
    } else {
      ++resolved;
      EXPECT_EQ(last_kind[key], "firing") << "resolved without an open firing for " << key;
      ++resolved_per_alert[alert_id];
      EXPECT_EQ(
          Count("SELECT count(*) FROM alerts WHERE id = " + *r[3] + " AND resolved_ms IS NOT NULL"),
          1);
    }
    last_kind[key] = kind;
  }
  for (const auto& [id, n] : firings_per_alert)
    EXPECT_EQ(n, 1) << "alert " << id << " carried " << n << " firings";
  for (const auto& [id, n] : resolved_per_alert) {
    EXPECT_EQ(n, 1) << "alert " << id << " resolved " << n << " times";
    EXPECT_EQ(firings_per_alert.count(id), 1u) << "alert " << id << " resolved but never fired";
  }
  for (const auto& [key, kind] : last_kind) {
    int64_t open = 0;
    for (int64_t id : alert_of_key[key])
      open += Count("SELECT count(*) FROM alerts WHERE id = " + std::to_string(id) +
                    " AND resolved_ms IS NULL");
    EXPECT_EQ(open, kind == "firing" ? 1 : 0) << key;
  }

  // 5. Open alerts: exactly the origins still broken, each on the address:port it serves now.
  EXPECT_EQ(OpenAlertOrigins(), broken);
  auto open = Query("SELECT origin, dedup_key FROM alerts WHERE resolved_ms IS NULL");
  ASSERT_TRUE(open.has_value());
  for (const auto& r : open->rows) {
    for (const CrashOrigin& o : origins_) {
      if (o.name != *r[0]) continue;
      const std::string where = "|" + o.address + ":" + std::to_string(o.port) + "|";
      EXPECT_NE(r[1]->find(where), std::string::npos)
          << "open alert on a place " << o.name << " left: " << *r[1];
    }
  }

  const double wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "crash-harness: seed " << seed << ", kills " << kills << ", reloads " << reloads
            << ", moves " << moves << ", receiver failing for " << fail_cycles << " and slow for "
            << slow_cycles << " cycles\n"
            << "crash-harness: probes committed " << probes << " (" << snapshots.size()
            << " pre-kill snapshots, all rows kept)\n"
            << "crash-harness: events " << stored.size() << " (firing " << firing << ", resolved "
            << resolved << "), requests received " << receiver_.request_count() << " (" << refused
            << " answered 500), duplicates " << duplicates << " (same event id and bytes)\n"
            << "crash-harness: broken at the end " << broken.size() << " of " << kOrigins
            << ", open alerts " << open->rows.size() << "\n"
            << "crash-harness: wall time " << static_cast<int64_t>(wall_s) << " s\n";
}

}  // namespace
}  // namespace originwatch::testing
