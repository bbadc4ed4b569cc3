// Proves what the store does when the database's filesystem is full (a real
// tmpfs, really full): the refused batch is held and retried, what cannot be
// held is counted as dropped, alert transitions are never dropped, the owner
// hears when writes stop and resume, writing resumes by itself when space
// returns, and stopping during the outage counts what is lost.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "originwatch/store.h"
#include "scalar.h"
#include "support/results.h"
#include "support/tmpfs.h"

namespace originwatch::testing {
namespace {

constexpr int64_t kNowS = 1'700'000'000;

class StoreFullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs_.Mount(8u << 20)) {
      if (Tmpfs::Required()) FAIL() << fs_.reason();
      GTEST_SKIP() << fs_.reason();
    }
    path_ = fs_.Path("ow.db");
  }

  Store::Options Opts() {
    Store::Options o;
    o.path = path_;
    o.queue_capacity = 64;
    o.batch_max_items = 16;
    o.batch_max_ms = 5;
    o.retry_min_ms = 20;
    o.retry_max_ms = 100;
    o.on_write_health = [this](const WriteHealth& h) {
      std::lock_guard<std::mutex> lk(mu_);
      health_.push_back(h);
    };
    return o;
  }

  // A successful probe of origin "o<i>" with a leaf of its own (new rows).
  ProbeResult Probe(int i) {
    const std::string origin = "o" + std::to_string(i);
    ProbeSpec spec = TestSpec(origin, origin + ".example", "127.0.0.1", origin + ".example");
    CertInfo leaf = TestLeaf(origin + ".example", {origin + ".example"}, kNowS, 60, KeyType::kEc,
                             FakeSha256(origin));
    leaf.der.assign(700, static_cast<uint8_t>(i));
    return WithNamesCovered(OkResult(spec, kNowS * 1000 + i, {leaf}));
  }

  Commit ProbeCommit(int i) {
    Commit c;
    c.probe = Probe(i);
    c.at_ms = c.probe->started_at_ms;
    return c;
  }

  // A firing transition, with the probe that caused it.
  Commit FiringCommit(int i) {
    Commit c = ProbeCommit(i);
    const std::string key = "o" + std::to_string(i) + "|handshake_failed|127.0.0.1:443|no-sni|modern";
    c.states.push_back({"variant:" + key, "{}", false});
    c.episodes.push_back({key, 1, 0});
    EventRecord e;
    e.event_id = "11111111-2222-8333-8444-" + std::to_string(100000000000 + i);
    e.kind = "firing";
    e.rule = "handshake_failed";
    e.severity = "critical";
    e.dedup_key = key;
    e.origin = "o" + std::to_string(i);
    e.summary = "The port refuses connections.";
    e.at_ms = c.at_ms;
    e.payload = "{}";
    e.webhooks = {"ops"};
    c.events.push_back(e);
    return c;
  }

  std::vector<WriteHealth> Health() {
    std::lock_guard<std::mutex> lk(mu_);
    return health_;
  }

  // Enqueues one probe at a time until a write fails (bounded).
  int EnqueueUntilUnwritable(Store& store, int first) {
    int n = 0;
    for (; n < 200 && store.stats().writable; ++n) {
      EXPECT_TRUE(store.Enqueue(ProbeCommit(first + n)));
      store.Flush();
    }
    return n;
  }

  Tmpfs fs_;
  std::string path_;
  std::mutex mu_;
  std::vector<WriteHealth> health_;
};

TEST_F(StoreFullDiskTest, HoldsAndRetriesCountsDropsKeepsAlertsAndResumesBySelf) {
  auto opened = Store::Open(Opts());
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Store& store = **opened;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(store.Enqueue(ProbeCommit(i)));
  store.Flush();
  ASSERT_EQ(store.stats().committed, 20u);
  ASSERT_GT(fs_.Fill(), 0u);

  const int before_failure = EnqueueUntilUnwritable(store, 1000);
  ASSERT_FALSE(store.stats().writable) << "the full filesystem never refused a write";
  ASSERT_EQ(Health().size(), 1u);
  EXPECT_FALSE(Health()[0].writable);
  EXPECT_NE(Health()[0].error.find("full"), std::string::npos) << Health()[0].error;

  // The queue fills to its capacity behind the held batch; beyond it probe rows
  // are refused and counted, exactly.
  int accepted = 0, refused = 0;
  for (int i = 0; i < 200; ++i) (store.Enqueue(ProbeCommit(2000 + i)) ? accepted : refused)++;
  EXPECT_EQ(accepted, 64);
  EXPECT_EQ(refused, 136);
  EXPECT_EQ(store.stats().dropped_unwritable, 136u);
  EXPECT_EQ(store.stats().dropped_queue_full, 0u);
  // An alert transition is never refused: its probe row is dropped (counted),
  // its alert part waits beyond the capacity.
  EXPECT_TRUE(store.Enqueue(FiringCommit(3000)));
  EXPECT_EQ(store.stats().dropped_unwritable, 137u);
  EXPECT_GT(store.stats().write_retries, 0u);
  EXPECT_GE(store.stats().held, 65u);

  fs_.Free();
  for (int i = 0; i < 500 && !store.stats().writable; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(store.stats().writable) << "writing did not resume after space returned";
  store.Flush();
  const Store::Stats st = store.stats();
  ASSERT_EQ(Health().size(), 2u);
  EXPECT_TRUE(Health()[1].writable);
  EXPECT_EQ(Health()[1].dropped, 137u);
  EXPECT_EQ(st.unwritable_since_ms, 0);
  // Every accepted probe row is stored: the held batch, the queue, in order.
  const uint64_t expected = 20u + static_cast<uint64_t>(before_failure) + 64u;
  EXPECT_EQ(st.committed, expected);
  store.Close();
  EXPECT_EQ(ScalarOf(path_, "SELECT count(*) FROM probes"), std::to_string(expected));
  EXPECT_EQ(ScalarOf(path_, "SELECT count(*) FROM alert_events WHERE kind = 'firing'"), "1");
  EXPECT_EQ(ScalarOf(path_, "SELECT count(*) FROM alerts WHERE resolved_ms IS NULL"), "1");
  EXPECT_EQ(ScalarOf(path_, "SELECT count(*) FROM outbox"), "1");
  EXPECT_EQ(ScalarOf(path_, "PRAGMA integrity_check"), "ok");
}

TEST_F(StoreFullDiskTest, StoppingDuringTheOutageCountsWhatIsLost) {
  auto opened = Store::Open(Opts());
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  Store& store = **opened;
  ASSERT_GT(fs_.Fill(), 0u);
  const int n = EnqueueUntilUnwritable(store, 0);
  ASSERT_FALSE(store.stats().writable);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store.Enqueue(ProbeCommit(500 + i)));
  store.Close();  // one last try, then the loss is counted
  const Store::Stats st = store.stats();
  EXPECT_EQ(st.committed, 0u);
  EXPECT_EQ(st.dropped_unwritable, static_cast<uint64_t>(n) + 10u);
  fs_.Free();
  EXPECT_EQ(ScalarOf(path_, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(ScalarOf(path_, "SELECT count(*) FROM probes"), "0");
}

}  // namespace
}  // namespace originwatch::testing
