// Proves that the store migrates and refuses databases correctly, writes every
// probe in batches with certificates stored once, counts what it drops, prunes
// old history, and that its views, reports and read-only queries answer what a
// user asks of a small hand-made history.
#include "originwatch/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "store/migrate.h"
#include "store/sqlite_util.h"
#include "scalar.h"
#include "support/results.h"

namespace originwatch::testing {
namespace {

// ---------------------------------------------------------------------------
// The values of tests/support/results.h in this file's terms.

// A 90-day leaf for `cn` issued by MakeIntermediate, expiring at `not_after_s`
// and named by 64 copies of `fingerprint_digit`.
CertInfo MakeCert(const std::string& cn, char fingerprint_digit, int64_t not_after_s) {
  CertInfo c =
      TestLeafExpiringAt(cn, {cn}, not_after_s, KeyType::kEc, UniformSha256(fingerprint_digit));
  c.issuer = "CN=Test Intermediate";
  return c;
}

// The CA certificate "CN=Test Intermediate" the chains here end with.
CertInfo MakeIntermediate(int64_t not_after_s) {
  CertInfo c = MakeCert("Test Intermediate", 'i', not_after_s);
  c.issuer = "CN=Test Root";
  return c;
}

// A probe of "<origin>.example" at `address`.
ProbeSpec MakeSpec(const std::string& origin, const std::string& address,
                   std::optional<std::string> sni) {
  return TestSpec(origin, origin + ".example", address, std::move(sni));
}

ProbeResult MakeOk(const ProbeSpec& spec, int64_t ts, std::vector<CertInfo> chain) {
  return WithNamesCovered(OkResult(spec, ts, std::move(chain)));
}

// ---------------------------------------------------------------------------

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ow-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/history.db";
  }
  void TearDown() override {
    chmod(dir_.c_str(), 0700);
    std::filesystem::remove_all(dir_);
  }

  Store::Options Opts() const {
    Store::Options o;
    o.path = path_;
    return o;
  }

  std::unique_ptr<Store> OpenStore(Store::Options o) {
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  // First cell of the first row of a read-only query ("NULL" for NULL).
  std::string Scalar(const std::string& sql) {
    return ScalarOf(path_, sql);
  }

  // Runs SQL on a plain read-write connection (to build "old" databases).
  void RawExec(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  std::string dir_;
  std::string path_;
};

// Column index by name, so assertions read as the view's contract.
size_t Col(const QueryResult& r, const std::string& name) {
  for (size_t i = 0; i < r.columns.size(); ++i) {
    if (r.columns[i] == name) return i;
  }
  ADD_FAILURE() << "no column " << name;
  return 0;
}
std::string Cell(const QueryResult& r, size_t row, const std::string& col) {
  if (row >= r.rows.size()) {
    ADD_FAILURE() << "no row " << row;
    return "";
  }
  return r.rows[row][Col(r, col)].value_or("NULL");
}

// ---------------------------------------------------------------------------
// Opening and migrating

TEST_F(StoreTest, CreatesAndMigratesAnEmptyDatabase) {
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  store->Close();
  EXPECT_EQ(Scalar("PRAGMA user_version"), std::to_string(StoreSchemaVersion()));
  EXPECT_EQ(Scalar("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(Scalar("SELECT count(*) FROM outcome_codes"), "20");
  EXPECT_EQ(Scalar("SELECT name FROM outcome_codes WHERE code = 14"), "internal");
  // Every outcome probe.h knows is named in the database.
  for (int code = 0; code < 20; ++code) {
    EXPECT_EQ(Scalar("SELECT name FROM outcome_codes WHERE code = " + std::to_string(code)),
              std::string(OutcomeCode(static_cast<Outcome>(code))));
  }
  for (const char* view : {"latest", "expiring", "cert_changes", "failing"}) {
    EXPECT_EQ(Scalar(std::string("SELECT count(*) FROM ") + view), "0") << view;
  }
}

TEST_F(StoreTest, MigratesAnExistingVersionZeroDatabaseWithNoTables) {
  RawExec(path_, "PRAGMA user_version = 0; VACUUM;");
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  store->Close();
  EXPECT_EQ(Scalar("PRAGMA user_version"), std::to_string(StoreSchemaVersion()));
  EXPECT_EQ(Scalar("SELECT count(*) FROM probes"), "0");
}

TEST_F(StoreTest, OnCommittedRunsAfterABatchIsVisibleToReaders) {
  // What on_committed sees must already be committed: a reader on another
  // connection finds the rows (this is how the webhook sender is woken).
  Store::Options o = Opts();
  std::atomic<int> calls{0};
  std::atomic<int> visible{-1};
  const std::string path = o.path;
  o.on_committed = [&] {
    auto q = RunQuery(path, "SELECT count(*) FROM probes");
    visible = q.ok() && !q->rows.empty() && q->rows[0][0] ? std::stoi(*q->rows[0][0]) : -2;
    ++calls;
  };
  auto store = OpenStore(o);
  ASSERT_TRUE(store);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(store->Enqueue(FailedResult(MakeSpec("a", "127.0.0.1", "a"), 1000 + i, Outcome::kRefused)));
  store->Flush();
  EXPECT_GE(calls.load(), 1);
  EXPECT_EQ(visible.load(), 3);
  store->Close();
}

TEST_F(StoreTest, ReopeningAMigratedDatabaseKeepsItsHistory) {
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  ASSERT_TRUE(
      store->Enqueue(FailedResult(MakeSpec("a", "127.0.0.1", "a"), 1000, Outcome::kRefused)));
  store.reset();
  store = OpenStore(Opts());
  ASSERT_TRUE(store);
  store->Close();
  EXPECT_EQ(Scalar("SELECT count(*) FROM probes"), "1");
}

TEST_F(StoreTest, MigrationsApplyOnlyThoseNewerThanTheDatabaseInOrder) {
  using store_internal::Migration;
  const std::vector<Migration> migrations = {
      {1, "001_a.sql", "CREATE TABLE a (x INTEGER);"},
      {2, "002_b.sql", "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (2);"},
      {3, "003_c.sql", "INSERT INTO a VALUES (3); INSERT INTO b SELECT x FROM a;"},
  };
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
  store_internal::DbPtr db(raw);
  const std::vector<Migration> first_two(migrations.begin(), migrations.begin() + 2);
  ASSERT_TRUE(store_internal::ApplyMigrations(raw, path_, first_two).ok());
  EXPECT_EQ(Scalar("PRAGMA user_version"), "2");
  // A database at version N-1 gets exactly migration N.
  ASSERT_TRUE(store_internal::ApplyMigrations(raw, path_, migrations).ok());
  EXPECT_EQ(Scalar("PRAGMA user_version"), "3");
  EXPECT_EQ(Scalar("SELECT group_concat(x) FROM (SELECT x FROM a ORDER BY x)"), "2,3");
  EXPECT_EQ(Scalar("SELECT count(*) FROM b"), "2");
  // A failing migration leaves the database at the last good version.
  const std::vector<Migration> broken = {
      migrations[0],
      migrations[1],
      migrations[2],
      {4, "004_bad.sql", "INSERT INTO a VALUES (4); INSERT INTO nosuch VALUES (1);"}};
  Status s = store_internal::ApplyMigrations(raw, path_, broken);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("004_bad.sql"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("no such table: nosuch"), std::string::npos) << s.message();
  EXPECT_EQ(Scalar("PRAGMA user_version"), "3");
  EXPECT_EQ(Scalar("SELECT count(*) FROM a WHERE x = 4"), "0");
}

TEST_F(StoreTest, RefusesADatabaseFromANewerOriginwatch) {
  RawExec(path_, "PRAGMA user_version = 7;");
  auto store = Store::Open(Opts());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().message(),
            "database \"" + path_ + "\" has schema version 7, this originwatch knows up to " +
                std::to_string(StoreSchemaVersion()) + ": upgrade originwatch");
}

TEST_F(StoreTest, RefusesAFileThatIsNotADatabase) {
  {
    std::ofstream f(path_);
    for (int i = 0; i < 100; ++i) f << "this is a config file, not SQLite\n";
  }
  auto store = Store::Open(Opts());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("\"" + path_ + "\""), std::string::npos)
      << store.status().message();
  EXPECT_NE(store.status().message().find("file is not a database"), std::string::npos)
      << store.status().message();
}

TEST_F(StoreTest, MissingDirectoryIsNamed) {
  Store::Options o = Opts();
  o.path = dir_ + "/nope/history.db";
  auto store = Store::Open(o);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().message(), "cannot open database \"" + o.path + "\": directory \"" +
                                          dir_ + "/nope\" does not exist");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/nope"));
}

// Runs fn in a child process without write permission on the test files (as
// "nobody" when we are root, since root ignores file modes) and returns the
// message it produced.
std::string InChildWithoutWriteAccess(const std::function<std::string()>& fn) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(2);
    std::string msg = fn();
    ssize_t n = write(fds[1], msg.data(), msg.size());
    _exit(n == static_cast<ssize_t>(msg.size()) ? 0 : 3);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child failed: " + out;
  return out;
}

TEST_F(StoreTest, ReadOnlyFileAndReadOnlyDirectoryAreRefusedClearly) {
  {
    auto store = OpenStore(Opts());
    ASSERT_TRUE(store);
  }
  // Readable by everyone, writable by no one but root.
  ASSERT_EQ(chmod(path_.c_str(), 0444), 0);
  ASSERT_EQ(chmod(dir_.c_str(), 0555), 0);
  const std::string path = path_;
  Store::Options file_opts;
  file_opts.path = path;
  std::string file_msg = InChildWithoutWriteAccess([&] {
    auto s = Store::Open(file_opts);
    return s.ok() ? std::string("opened") : s.status().message();
  });
  EXPECT_NE(file_msg.find("cannot open database \"" + path + "\": the file is read-only"),
            std::string::npos)
      << file_msg;
  const std::string fresh = dir_ + "/fresh.db";
  Store::Options dir_opts;
  dir_opts.path = fresh;
  std::string dir_msg = InChildWithoutWriteAccess([&] {
    auto s = Store::Open(dir_opts);
    return s.ok() ? std::string("opened") : s.status().message();
  });
  EXPECT_NE(dir_msg.find("cannot open database \"" + fresh + "\": directory \"" + dir_ +
                         "\" is not writable"),
            std::string::npos)
      << dir_msg;
  EXPECT_FALSE(std::filesystem::exists(fresh));
  // Reading still works without write access (the query side).
  std::string query_msg = InChildWithoutWriteAccess([&] {
    auto r = RunQuery(path, "SELECT count(*) FROM probes");
    return r.ok() ? *r->rows[0][0] : r.status().message();
  });
  EXPECT_EQ(query_msg, "0");
}

// ---------------------------------------------------------------------------
// Writing

TEST_F(StoreTest, ThousandResultsAreWrittenInFewBatches) {
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  const auto leaf = MakeCert("bulk.example", 'b', 2000000000);
  for (int i = 0; i < 1000; ++i) {
    auto spec = MakeSpec("bulk" + std::to_string(i % 10), "127.0.0.1", "bulk.example");
    ASSERT_TRUE(store->Enqueue(MakeOk(spec, 1700000000000 + i, {leaf})));
  }
  store->Flush();
  Store::Stats st = store->stats();
  EXPECT_EQ(st.enqueued, 1000u);
  EXPECT_EQ(st.committed, 1000u);
  EXPECT_EQ(st.write_errors, 0u);
  EXPECT_GE(st.batches, 2u);  // batch_max_items = 512
  EXPECT_LT(st.batches, 1000u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM probes"), "1000");
  EXPECT_EQ(Scalar("SELECT count(*) FROM variants"), "10");
  EXPECT_EQ(Scalar("SELECT sum(consecutive_successes) FROM variant_state"), "1000");
}

TEST_F(StoreTest, EachCertificateIsStoredOnceByFingerprint) {
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  const auto inter = MakeIntermediate(2100000000);
  const auto leaf_a = MakeCert("a.example", 'a', 2000000000);
  const auto leaf_b = MakeCert("b.example", 'b', 2000000000);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(store->Enqueue(
        MakeOk(MakeSpec("a", "127.0.0.1", "a.example"), 1700000000000 + i, {leaf_a, inter})));
    ASSERT_TRUE(store->Enqueue(
        MakeOk(MakeSpec("b", "127.0.0.1", "b.example"), 1700000000000 + i, {leaf_b, inter})));
  }
  store->Close();
  EXPECT_EQ(Scalar("SELECT count(*) FROM probes"), "100");
  EXPECT_EQ(Scalar("SELECT count(*) FROM certificates"), "3");
  EXPECT_EQ(Scalar("SELECT count(*) FROM chains"), "2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM chain_certs"), "4");
  EXPECT_EQ(Scalar("SELECT count(DISTINCT chain_id) FROM probes"), "2");
  EXPECT_EQ(Scalar("SELECT length(der) FROM certificates WHERE common_name = 'a.example'"),
            std::to_string(leaf_a.der.size()));
  EXPECT_EQ(Scalar("SELECT sans FROM certificates WHERE common_name = 'a.example'"), "a.example");
  EXPECT_EQ(Scalar("SELECT last_seen FROM chains ch JOIN certificates c ON c.id = "
                   "ch.leaf_cert_id WHERE c.common_name = 'b.example'"),
            "1700000000049");
}

TEST_F(StoreTest, FullQueueDropsAndCountsWithoutBlocking) {
  Store::Options o = Opts();
  o.queue_capacity = 4;
  o.batch_max_ms = 0;
  o.busy_timeout_ms = 20000;
  auto store = OpenStore(o);
  ASSERT_TRUE(store);
  // Stall the writer: another connection holds the write lock.
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const auto spec = MakeSpec("q", "127.0.0.1", std::nullopt);
  ASSERT_TRUE(store->Enqueue(FailedResult(spec, 1, Outcome::kRefused)));
  // Wait (bounded) until the writer has taken that item and is stuck on the lock.
  for (int i = 0; i < 5000 && store->stats().queue_depth != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(store->stats().queue_depth, 0u);
  int accepted = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    accepted += store->Enqueue(FailedResult(spec, 2 + i, Outcome::kRefused));
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(1));  // the writer is stuck; Enqueue is not
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ(store->stats().dropped_queue_full, 6u);
  ASSERT_EQ(sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(blocker);
  store->Flush();
  Store::Stats st = store->stats();
  EXPECT_EQ(st.committed, 5u);
  EXPECT_EQ(st.enqueued, 5u);
  store->Close();
  EXPECT_EQ(Scalar("SELECT count(*) FROM probes"), "5");
}

TEST_F(StoreTest, ACommitWritesItsProbeStateEventAndOutboxTogether) {
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  const auto spec = MakeSpec("h", "127.0.0.1", "h.example");
  Commit c;
  c.at_ms = 1000;
  c.probe = FailedResult(spec, 1000, Outcome::kRefused);
  c.lead = FindingRecord{"refused", "The port refuses connections."};
  c.states.push_back({"variant:h|127.0.0.1:443|sni=h.example|modern", "{\"origin\":\"h\"}", false});
  c.episodes.push_back({"h|handshake_failed|127.0.0.1:443|sni=h.example|modern", 1, 0});
  EventRecord e;
  e.event_id = "11111111-2222-8333-8444-555555555555";
  e.kind = "firing";
  e.rule = "handshake_failed";
  e.severity = "critical";
  e.dedup_key = "h|handshake_failed|127.0.0.1:443|sni=h.example|modern";
  e.origin = "h";
  e.summary = "The port refuses connections.";
  e.at_ms = 1000;
  e.payload = "{}";
  e.webhooks = {"ops", "pager"};
  c.events.push_back(e);
  ASSERT_TRUE(store->Enqueue(std::move(c)));
  // The same transition raised again (same deterministic id): recorded once.
  Commit again;
  again.at_ms = 2000;
  again.events.push_back(e);
  ASSERT_TRUE(store->Enqueue(std::move(again)));
  store->Flush();
  EXPECT_EQ(store->stats().committed, 1u);  // probe rows
  EXPECT_EQ(store->stats().commits, 2u);
  store->Close();
  EXPECT_EQ(Scalar("SELECT count(*) FROM probes"), "1");
  EXPECT_EQ(Scalar("SELECT last_finding_code FROM variant_state"), "refused");
  EXPECT_EQ(Scalar("SELECT count(*) FROM alert_state"), "1");
  EXPECT_EQ(Scalar("SELECT episode FROM alert_episodes"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM alerts WHERE resolved_ms IS NULL"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM alert_events"), "1");
  EXPECT_EQ(Scalar("SELECT group_concat(webhook) FROM (SELECT webhook FROM outbox ORDER BY id)"), "ops,pager");
}

TEST_F(StoreTest, EachDistinctDnsAnswerIsStoredOnceAndReferencedByItsProbes) {
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  for (int i = 0; i < 3; ++i) {
    ProbeResult r = FailedResult(MakeSpec("d", "127.0.0.2", "d.example"), 1000 + i, Outcome::kRefused);
    r.dns_ms = i == 0 ? 4 : 0;
    r.dns_cached = i > 0;
    r.dns_addresses = "127.0.0.1,127.0.0.2,127.0.0.3";
    r.dns_ttl_ms = 300000;
    r.dns_resolver = "127.0.0.1:53";
    ASSERT_TRUE(store->Enqueue(std::move(r)));
  }
  ASSERT_TRUE(store->Enqueue(FailedResult(MakeSpec("d", "127.0.0.9", "d.example"), 2000, Outcome::kRefused)));
  store->Flush();
  store->Close();
  EXPECT_EQ(Scalar("SELECT count(*) FROM dns_answers"), "1");
  EXPECT_EQ(Scalar("SELECT group_concat(coalesce(dns_ms, 'NULL') || '/' || coalesce(dns_cached, 'NULL')) "
                   "FROM (SELECT * FROM probes ORDER BY ts)"),
            "4/0,0/1,0/1,NULL/NULL");
  EXPECT_EQ(Scalar("SELECT a.addresses || ' ' || a.ttl_ms || ' ' || a.resolver FROM probes p "
                   "JOIN dns_answers a ON a.id = p.dns_answer_id LIMIT 1"),
            "127.0.0.1,127.0.0.2,127.0.0.3 300000 127.0.0.1:53");
}

TEST_F(StoreTest, AlertSnapshotReturnsWhatCommitsWrote) {
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  Commit c;
  c.at_ms = 1;
  c.states.push_back({"cert:abc", "{\"open\":true}", false});
  c.states.push_back({"dns:h", "{\"bad\":1}", false});
  c.episodes.push_back({"h|dns_error", 3, 1});
  ASSERT_TRUE(store->Enqueue(std::move(c)));
  Commit erase;
  erase.at_ms = 2;
  erase.states.push_back({"dns:h", "", true});
  ASSERT_TRUE(store->Enqueue(std::move(erase)));
  store->Flush();
  auto snap = store->LoadAlertSnapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().message();
  ASSERT_EQ(snap->states.size(), 1u);
  EXPECT_EQ(snap->states[0].key, "cert:abc");
  ASSERT_EQ(snap->episodes.size(), 1u);
  EXPECT_EQ(snap->episodes[0].episode, 3);
  EXPECT_EQ(snap->episodes[0].updates, 1);
}

TEST_F(StoreTest, SyncOriginsMarksAbsentOriginsRemovedAndKeepsTheirHistory) {
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store
                  ->SyncOrigins(
                      {{"a", "a.example", 443, {"prod", "eu"}}, {"b", "b.example", 8443, {}}}, 1000)
                  .ok());
  ASSERT_TRUE(store->Enqueue(
      FailedResult(MakeSpec("b", "127.0.0.1", "b.example"), 1500, Outcome::kRefused)));
  ASSERT_TRUE(store->SyncOrigins({{"a", "a2.example", 443, {"prod"}}}, 2000).ok());
  store->Close();
  EXPECT_EQ(Scalar("SELECT host || ' ' || tags || ' ' || first_seen || ' ' || "
                   "ifnull(removed_at, 'NULL') FROM origins WHERE name = 'a'"),
            "a2.example prod 1000 NULL");
  EXPECT_EQ(Scalar("SELECT removed_at FROM origins WHERE name = 'b'"), "2000");
  EXPECT_EQ(Scalar("SELECT count(*) FROM probes"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM failing"), "0");  // b is no longer configured
}

TEST_F(StoreTest, PruneDeletesDictionaryTextsNoProbeReferences) {
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  const int64_t cutoff = 1700000100000;
  const auto spec = MakeSpec("t", "127.0.0.1", "t.example");
  // Texts unique per probe (a timeout names the bytes it read) must not make
  // the dictionary grow for ever.
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(store->Enqueue(FailedResult(spec, cutoff - 1000 + i, Outcome::kHandshakeTimeout, -1,
                                            "no answer after " + std::to_string(i) + " bytes")));
  }
  ASSERT_TRUE(store->Enqueue(FailedResult(spec, cutoff + 1, Outcome::kHandshakeTimeout, -1, "kept text")));
  store->Flush();
  ASSERT_TRUE(store->Prune(cutoff).ok());
  EXPECT_EQ(Scalar("SELECT group_concat(value) FROM strings"), "kept text");
  // A text deleted by the prune is stored again when a new probe carries it.
  ASSERT_TRUE(store->Enqueue(FailedResult(spec, cutoff + 2, Outcome::kHandshakeTimeout, -1, "no answer after 3 bytes")));
  store->Flush();
  EXPECT_EQ(Scalar("SELECT count(*) FROM probes p JOIN strings s ON s.id = p.error_id"), "2");
}

TEST_F(StoreTest, PruneDeletesOldRowsInStepsAndKeepsNewOnes) {
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  const auto inter = MakeIntermediate(2100000000);
  const auto old_leaf = MakeCert("old.example", 'o', 2000000000);
  const auto new_leaf = MakeCert("new.example", 'n', 2000000000);
  const int64_t cutoff = 1700000100000;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(store->Enqueue(MakeOk(MakeSpec("old", "127.0.0.1", "old.example"),
                                      cutoff - 100000 + i, {old_leaf, inter})));
  }
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store->Enqueue(
        MakeOk(MakeSpec("new", "127.0.0.1", "new.example"), cutoff + i, {new_leaf, inter})));
  }
  store->Flush();
  ASSERT_TRUE(store->Prune(cutoff, 7).ok());  // 100 rows: 15 steps
  EXPECT_EQ(store->stats().pruned, 100u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM probes"), "10");
  EXPECT_EQ(Scalar("SELECT min(ts) FROM probes"), std::to_string(cutoff));
  EXPECT_EQ(Scalar("SELECT group_concat(common_name) FROM (SELECT common_name FROM "
                   "certificates ORDER BY common_name)"),
            "Test Intermediate,new.example");
  EXPECT_EQ(Scalar("SELECT count(*) FROM chains"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM variant_state WHERE last_probe_id IS NULL"), "1");
  EXPECT_EQ(Scalar("PRAGMA foreign_key_check"), "<no row>");
  // The old certificate comes back when it is served again (no stale cache).
  ASSERT_TRUE(store->Enqueue(
      MakeOk(MakeSpec("old", "127.0.0.1", "old.example"), cutoff + 50, {old_leaf, inter})));
  store->Flush();
  EXPECT_EQ(store->stats().write_errors, 0u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM certificates"), "3");
  EXPECT_EQ(Scalar("SELECT count(*) FROM latest"), "2");
}

// ---------------------------------------------------------------------------
// Views and reports over a hand-made history:
//   shop, SNI "shop.example": ok (leaf A) -> refused -> refused -> ok (leaf B)
//   shop, no SNI:             alert 112, alert 112 (lead finding sni_required)
//   blog, SNI "blog.example": ok (leaf A, shared with shop's past)

class HistoryTest : public StoreTest {
 protected:
  static constexpr int64_t kT0 = 1700000000000;  // 2023-11-14T22:13:20.000Z
  static constexpr int64_t kMinute = 60000;

  void SetUp() override {
    StoreTest::SetUp();
    now_s_ = static_cast<int64_t>(std::time(nullptr));
    // An hour of margin keeps days_left exact while the test runs.
    leaf_a_ = MakeCert("shop.example", 'a', now_s_ + 10 * 86400 + 3600);
    leaf_b_ = MakeCert("shop.example", 'b', now_s_ + 40 * 86400 + 3600);
    const auto inter = MakeIntermediate(now_s_ + 900 * 86400);
    auto store = OpenStore(Opts());
    ASSERT_TRUE(store);
    ASSERT_TRUE(
        store
            ->SyncOrigins({{"shop", "shop.example", 443, {}}, {"blog", "blog.example", 443, {}}},
                          kT0 - kMinute)
            .ok());
    const auto sni = MakeSpec("shop", "192.0.2.1", "shop.example");
    const auto nosni = MakeSpec("shop", "192.0.2.1", std::nullopt);
    const auto blog = MakeSpec("blog", "192.0.2.9", "blog.example");
    const FindingRecord lead{"sni_required", "works with SNI, fails without SNI (alert 112)"};
    store->Enqueue(MakeOk(sni, kT0, {leaf_a_, inter}));
    store->Enqueue(FailedResult(nosni, kT0, Outcome::kTlsAlert, 112, "tlsv1 unrecognized name"),
                   lead);
    store->Enqueue(MakeOk(blog, kT0, {leaf_a_, inter}));
    store->Enqueue(FailedResult(sni, kT0 + kMinute, Outcome::kRefused, -1, "Connection refused"));
    store->Enqueue(
        FailedResult(nosni, kT0 + kMinute, Outcome::kTlsAlert, 112, "tlsv1 unrecognized name"),
        lead);
    store->Enqueue(
        FailedResult(sni, kT0 + 2 * kMinute, Outcome::kRefused, -1, "Connection refused"));
    store->Enqueue(MakeOk(sni, kT0 + 3 * kMinute, {leaf_b_, inter}));
    store->Close();
    ASSERT_EQ(store->stats().committed, 7u);
  }

  int64_t now_s_ = 0;
  CertInfo leaf_a_, leaf_b_;
};

TEST_F(HistoryTest, LatestShowsTheNewestProbeOfEveryVariantReadably) {
  auto r = RunQuery(path_, "SELECT * FROM latest");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rows.size(), 3u);
  // Ordered by origin, address, sni ('' sorts first), profile.
  EXPECT_EQ(Cell(*r, 0, "origin"), "blog");
  EXPECT_EQ(Cell(*r, 1, "origin"), "shop");
  EXPECT_EQ(Cell(*r, 1, "sni"), "(none)");
  EXPECT_EQ(Cell(*r, 1, "outcome"), "tls_alert");
  EXPECT_EQ(Cell(*r, 1, "alert"), "112");
  EXPECT_EQ(Cell(*r, 1, "error"), "tlsv1 unrecognized name");
  EXPECT_EQ(Cell(*r, 1, "leaf_subject"), "NULL");
  EXPECT_EQ(Cell(*r, 1, "ts"), "2023-11-14T22:14:20.000Z");
  EXPECT_EQ(Cell(*r, 2, "sni"), "shop.example");
  EXPECT_EQ(Cell(*r, 2, "address"), "192.0.2.1");
  EXPECT_EQ(Cell(*r, 2, "profile"), "modern");
  EXPECT_EQ(Cell(*r, 2, "outcome"), "ok");
  EXPECT_EQ(Cell(*r, 2, "ts"), "2023-11-14T22:16:20.000Z");
  EXPECT_EQ(Cell(*r, 2, "version"), "TLSv1.3");
  EXPECT_EQ(Cell(*r, 2, "cipher"), "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(Cell(*r, 2, "leaf_subject"), "CN=shop.example");
  EXPECT_EQ(Cell(*r, 2, "days_left"), "40");
  EXPECT_EQ(Cell(*r, 2, "verify"), "ok");
}

TEST_F(HistoryTest, ExpiringListsServedLeavesSoonestFirst) {
  auto r = RunQuery(path_, "SELECT * FROM expiring");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rows.size(), 2u);
  // Leaf A is now served by blog only; shop moved to leaf B.
  EXPECT_EQ(Cell(*r, 0, "sha256"), leaf_a_.sha256_hex);
  EXPECT_EQ(Cell(*r, 0, "origins"), "blog");
  EXPECT_EQ(Cell(*r, 0, "days_left"), "10");
  EXPECT_EQ(Cell(*r, 1, "sha256"), leaf_b_.sha256_hex);
  EXPECT_EQ(Cell(*r, 1, "origins"), "shop");
  EXPECT_EQ(Cell(*r, 1, "days_left"), "40");
}

TEST_F(HistoryTest, CertChangesRecordsOldAndNewLeafWithTime) {
  auto r = RunQuery(path_, "SELECT * FROM cert_changes");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(Cell(*r, 0, "origin"), "shop");
  EXPECT_EQ(Cell(*r, 0, "sni"), "shop.example");
  EXPECT_EQ(Cell(*r, 0, "ts"), "2023-11-14T22:16:20.000Z");
  EXPECT_EQ(Cell(*r, 0, "old_sha256"), leaf_a_.sha256_hex);
  EXPECT_EQ(Cell(*r, 0, "new_sha256"), leaf_b_.sha256_hex);
}

TEST_F(HistoryTest, FailingShowsOnlyVariantsFailingNowSinceTheirFirstFailure) {
  auto r = RunQuery(path_, "SELECT * FROM failing");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rows.size(), 1u);  // the SNI variant recovered
  EXPECT_EQ(Cell(*r, 0, "origin"), "shop");
  EXPECT_EQ(Cell(*r, 0, "sni"), "(none)");
  EXPECT_EQ(Cell(*r, 0, "since"), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(Cell(*r, 0, "failures"), "2");
  EXPECT_EQ(Cell(*r, 0, "outcome"), "tls_alert");
  EXPECT_EQ(Cell(*r, 0, "finding"), "sni_required");
  EXPECT_EQ(Cell(*r, 0, "summary"), "works with SNI, fails without SNI (alert 112)");
  EXPECT_EQ(Scalar("SELECT consecutive_successes || '/' || consecutive_failures || '/' || "
                   "ifnull(failing_since, 'NULL') FROM variant_state s JOIN variants v ON "
                   "v.id = s.variant_id WHERE v.sni = 'shop.example'"),
            "1/0/NULL");
}

TEST_F(HistoryTest, ReportsAnswerWithTheGivenNow) {
  const int64_t now_ms = kT0 + 2 * 3600000 + 5 * kMinute;
  auto expiring = Report(path_, "expiring", "20", now_s_ * 1000);
  ASSERT_TRUE(expiring.ok()) << expiring.status().message();
  ASSERT_EQ(expiring->rows.size(), 1u);
  EXPECT_EQ(Cell(*expiring, 0, "origins"), "blog");
  EXPECT_EQ(Cell(*expiring, 0, "days_left"), "10");
  // 20 days later leaf A has expired.
  auto later = Report(path_, "expiring", "", (now_s_ + 20 * 86400) * 1000);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->rows.size(), 2u);
  EXPECT_EQ(Cell(*later, 0, "days_left"), "-10");

  auto failing = Report(path_, "failing", "", now_ms);
  ASSERT_TRUE(failing.ok()) << failing.status().message();
  ASSERT_EQ(failing->rows.size(), 1u);
  EXPECT_EQ(Cell(*failing, 0, "failing_for"), "2h05m");
  EXPECT_EQ(Cell(*failing, 0, "finding"), "sni_required");

  auto changes = Report(path_, "changes", "shop", now_ms);
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(changes->rows.size(), 1u);
  auto blog_changes = Report(path_, "changes", "blog", now_ms);
  ASSERT_TRUE(blog_changes.ok());
  EXPECT_EQ(blog_changes->rows.size(), 0u);

  auto origin = Report(path_, "origin", "shop", now_s_ * 1000);
  ASSERT_TRUE(origin.ok()) << origin.status().message();
  ASSERT_EQ(origin->rows.size(), 2u + 6u);
  EXPECT_EQ(Cell(*origin, 0, "section"), "latest");
  EXPECT_EQ(Cell(*origin, 0, "failures"), "2");
  EXPECT_EQ(Cell(*origin, 1, "days_left"), "40");
  EXPECT_EQ(Cell(*origin, 2, "section"), "probe");
  EXPECT_EQ(Cell(*origin, 2, "ts"), "2023-11-14T22:16:20.000Z");  // newest first
  EXPECT_EQ(Cell(*origin, 7, "ts"), "2023-11-14T22:13:20.000Z");

  auto missing = Report(path_, "origin", "nosuch", now_ms);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "no origin named \"nosuch\" in \"" + path_ + "\"");
  auto unknown = Report(path_, "weather", "", now_ms);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Status::Code::kInvalidArgument);
  auto bad_days = Report(path_, "expiring", "soon", now_ms);
  EXPECT_FALSE(bad_days.ok());
}

// ---------------------------------------------------------------------------
// Read side

TEST_F(HistoryTest, RunQueryRefusesEveryWrite) {
  for (const char* sql : {"INSERT INTO strings (value) VALUES ('x')", "DELETE FROM probes",
                          "CREATE TABLE t (x)", "PRAGMA user_version = 9"}) {
    auto r = RunQuery(path_, sql);
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_NE(r.status().message().find("attempt to write a readonly database"), std::string::npos)
        << sql << ": " << r.status().message();
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM probes"), "7");
  EXPECT_EQ(Scalar("PRAGMA user_version"), std::to_string(StoreSchemaVersion()));
}

TEST_F(StoreTest, RunQueryNeverCreatesAFileAndPointsAtSyntaxErrors) {
  auto missing = RunQuery(dir_ + "/absent.db", "SELECT 1");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "cannot open database \"" + dir_ + "/absent.db\": no such file");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/absent.db"));
  { auto store = OpenStore(Opts()); }
  auto bad = RunQuery(path_, "SELECT 1;\nSELECT * FRM probes");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("syntax error"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("line 2, column 10"), std::string::npos)
      << bad.status().message();
  auto two = RunQuery(path_, "SELECT 1 AS a; SELECT 2 AS b, NULL AS c;");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->columns, (std::vector<std::string>{"b", "c"}));
}

TEST_F(StoreTest, OutputFormatsSurviveHostileCertificateText) {
  auto store = OpenStore(Opts());
  ASSERT_TRUE(store);
  // Invalid UTF-8, a terminal escape and a quote in a certificate subject.
  auto leaf = MakeCert("evil.example", 'e', 2000000000);
  leaf.subject = "CN=\xff\xfe\"evil\"\x1b[31m,O=caf\xc3\xa9";
  ASSERT_TRUE(
      store->Enqueue(MakeOk(MakeSpec("evil", "127.0.0.1", "evil.example"), 1700000000000, {leaf})));
  store->Close();
  auto r = RunQuery(path_, "SELECT subject, key_bits, NULL AS absent FROM certificates");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->rows.size(), 1u);

  const std::string json = FormatJson(*r);
  auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(parsed.is_discarded()) << json;
  ASSERT_TRUE(parsed.is_array());
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0]["subject"].get<std::string>(),
            "CN=\xef\xbf\xbd\xef\xbf\xbd\"evil\"\x1b[31m,O=caf\xc3\xa9");
  EXPECT_EQ(parsed[0]["key_bits"], 256);
  EXPECT_TRUE(parsed[0]["absent"].is_null());

  const std::string table = FormatTable(*r);
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_NE(table.find("\\x1B[31m"), std::string::npos) << table;
  EXPECT_NE(table.find("NULL"), std::string::npos);
  EXPECT_NE(table.find("(1 row)"), std::string::npos);

  const std::string csv = FormatCsv(*r);
  EXPECT_EQ(csv,
            "subject,key_bits,absent\n\"CN=\xef\xbf\xbd\xef\xbf\xbd\"\"evil\"\"\\x1B[31m,"
            "O=caf\xc3\xa9\",256,\n");
}

}  // namespace
}  // namespace originwatch::testing
