// Proves that `originwatch query`, run as a user runs it, streams its rows with
// flat memory, stops at --max-rows, --timeout and the heap cap with the rows so
// far and exit 1, refuses ATTACH and VACUUM before any file is created, and
// writes no raw control bytes in CSV.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "originwatch/store.h"

namespace originwatch::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kEndless[] =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c";

// What one run of the binary did. stdout is counted as it arrives and only
// its first kKeep bytes are kept, so the test itself stays small too.
struct Child {
  static constexpr size_t kKeep = 4 << 20;
  int exit_code = -1;  // -1: still running at the deadline (then killed)
  std::string out;
  uint64_t out_bytes = 0;
  uint64_t lines = 0;
  std::string err;
  long max_rss_kb = 0;  // peak resident set of the child (wait4)
  double seconds = 0;
};

Child RunBinary(const std::vector<std::string>& args, const std::string& err_path,
                std::chrono::seconds deadline) {
  Child r;
  int fds[2];
  if (pipe(fds) != 0) return r;
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    FILE* err = std::fopen(err_path.c_str(), "w");
    if (err != nullptr) dup2(fileno(err), STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(OW_BINARY));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
#if defined(__SANITIZE_ADDRESS__)
    // Under ASan the binary keeps up to 256 MiB of freed memory in quarantine,
    // which hides whether the query's own memory stays flat: a small one here.
    {
      const char* base = std::getenv("ASAN_OPTIONS");
      const std::string opts = std::string(base ? base : "") + ":quarantine_size_mb=8";
      setenv("ASAN_OPTIONS", opts.c_str(), 1);
    }
#endif
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  bool killed = false;
  std::vector<char> buf(1 << 16);
  const auto end = start + deadline;
  for (;;) {
    const auto now = Clock::now();
    if (now >= end) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(end - now).count() + 1;
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(wait)) <= 0) continue;
    const ssize_t n = read(fds[0], buf.data(), buf.size());
    if (n <= 0) break;
    r.out_bytes += static_cast<uint64_t>(n);
    for (ssize_t i = 0; i < n; ++i) r.lines += buf[static_cast<size_t>(i)] == '\n';
    if (r.out.size() < Child::kKeep) r.out.append(buf.data(), static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.max_rss_kb = usage.ru_maxrss;
  if (!killed && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  std::ifstream f(err_path);
  std::stringstream ss;
  ss << f.rdbuf();
  r.err = ss.str();
  return r;
}

// Runs SQL on a database file with SQLite directly (the test's own data).
// Runs SQL on a read-write connection in a child process of its own: a
// child's peak RSS (wait4) includes what it inherited at fork, so the test
// process must not have grown by building a large database itself (under ASan
// the freed pages of a 3,000,000-row INSERT stay resident in its quarantine).
void Exec(const std::string& path, const std::string& sql) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) _exit(3);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) std::fprintf(stderr, "%s: %s\n", sql.substr(0, 80).c_str(), err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
    _exit(rc == SQLITE_OK ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "SQL failed: " << sql.substr(0, 200);
}

class QueryCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ow-query-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_ = dir_ + "/small.db";
    Exec(db_,
         "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);"
         "INSERT INTO t (name) VALUES ('a'), ('b'), ('c');");
  }
  void TearDown() override { fs::remove_all(dir_); }

  Child Query(std::vector<std::string> args, int deadline_s = 60) {
    args.insert(args.begin(), {"query", "--db", db_});
    return RunBinary(args, dir_ + "/stderr.txt", std::chrono::seconds(deadline_s));
  }

  std::string dir_;
  std::string db_;
};

TEST_F(QueryCliTest, ThreeMillionRowsToCsvStreamWithFlatMemory) {
  db_ = dir_ + "/big.db";
  Exec(db_,
       "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL);"
       "INSERT INTO t SELECT x, 'host-' || x || '.example.test', x * 0.5 FROM "
       "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
       "SELECT x FROM c);");
  Child r = Query({"--format", "csv", "SELECT id, name, score FROM t ORDER BY id"}, 240);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.lines, 3000001u) << r.err;  // the header and every row
  EXPECT_EQ(r.out.rfind("id,name,score\n1,host-1.example.test,0.5\n2,", 0), 0u)
      << r.out.substr(0, 200);
#if defined(__SANITIZE_ADDRESS__)
  const long kFlatKb = 200 * 1024;  // ASan's shadow and allocator caches on top
#else
  const long kFlatKb = 100 * 1024;
#endif
  EXPECT_LT(r.max_rss_kb, kFlatKb) << "peak RSS of the query: " << r.max_rss_kb << " KiB";
  std::printf("3,000,000 rows to csv: %llu bytes in %.1f s, peak RSS %ld KiB\n",
              static_cast<unsigned long long>(r.out_bytes), r.seconds, r.max_rss_kb);
}

TEST_F(QueryCliTest, EndlessRecursiveQueryWithTimeoutPrintsRowsAndExits1) {
  Child r = Query({"--format", "csv", "--timeout", "1s", kEndless}, 30);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out.rfind("x\n1\n2\n3\n", 0), 0u) << r.out.substr(0, 100);
  EXPECT_GT(r.lines, 1000u);
  EXPECT_NE(r.err.find("ran longer than --timeout 1s"), std::string::npos) << r.err;
  EXPECT_LT(r.seconds, 15.0);
  EXPECT_LT(r.max_rss_kb, 100 * 1024);
  std::printf("endless query, --timeout 1s: %llu rows in %.2f s, peak RSS %ld KiB\n",
              static_cast<unsigned long long>(r.lines > 0 ? r.lines - 1 : 0), r.seconds,
              r.max_rss_kb);
}

TEST_F(QueryCliTest, TableStreamsPastItsLookahead) {
  Child r = Query({"--timeout", "1s", kEndless}, 30);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_GT(r.lines, kTableLookaheadRows + 1000) << r.out.substr(0, 200);
  EXPECT_EQ(r.out.rfind("x\n----\n   1\n   2\n", 0), 0u) << r.out.substr(0, 100);
}

TEST_F(QueryCliTest, MaxRowsPrintsTheRowsAndExits1WithTheReason) {
  Child csv = Query({"--format", "csv", "--max-rows", "10", kEndless});
  EXPECT_EQ(csv.exit_code, 1) << csv.err;
  EXPECT_EQ(csv.out, "x\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
  EXPECT_NE(csv.err.find("stopped after 10 rows (--max-rows 10)"), std::string::npos) << csv.err;

  // JSON stays one document.
  Child json = Query({"--format", "json", "--max-rows", "10", kEndless});
  EXPECT_EQ(json.exit_code, 1) << json.err;
  auto doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  ASSERT_EQ(doc.size(), 10u);
  EXPECT_EQ(doc[9]["x"], 10);

  // Exactly as many rows as allowed is not a stop.
  Child exact = Query({"--format", "csv", "--max-rows", "3", "SELECT name FROM t ORDER BY id"});
  EXPECT_EQ(exact.exit_code, 0) << exact.err;
  EXPECT_EQ(exact.out, "name\na\nb\nc\n");
}

TEST_F(QueryCliTest, VacuumIntoIsRefusedAndLeavesNoFile) {
  const std::string copy = dir_ + "/copy.db";
  Child r = Query({"VACUUM INTO '" + copy + "'"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("VACUUM is refused"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(copy));
  Child plain = Query({"  /* compact */ vacuum"});
  EXPECT_EQ(plain.exit_code, 2) << plain.err;
  EXPECT_NE(plain.err.find("VACUUM is refused"), std::string::npos) << plain.err;
}

TEST_F(QueryCliTest, AttachIsRefusedBeforeAnyFileIsOpened) {
  const std::string other = dir_ + "/other.db";
  Exec(other, "CREATE TABLE secret (v TEXT); INSERT INTO secret VALUES ('other file');");
  Child r = Query({"--format", "csv", "ATTACH '" + other + "' AS o; SELECT v FROM o.secret"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("ATTACH is refused"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("other file"), std::string::npos) << r.out;

  const std::string fresh = dir_ + "/fresh.db";
  Child created = Query({"ATTACH '" + fresh + "' AS f"});
  EXPECT_EQ(created.exit_code, 2);
  EXPECT_FALSE(fs::exists(fresh));

  // The read-only guarantees stay: a write is refused by SQLite itself.
  Child write = Query({"DELETE FROM t"});
  EXPECT_EQ(write.exit_code, 2);
  EXPECT_NE(write.err.find("attempt to write a readonly database"), std::string::npos) << write.err;
  EXPECT_EQ(write.out, "") << "an error before the first row prints nothing";
  Child safety = Query({"PRAGMA query_only = OFF"});
  EXPECT_EQ(safety.exit_code, 2);
  EXPECT_NE(safety.err.find("PRAGMA query_only is refused"), std::string::npos) << safety.err;
}

TEST_F(QueryCliTest, CsvWritesControlBytesAsEscapes) {
  Child r = Query({"--format", "csv",
                   "SELECT 'CN=a' || char(27) || '[31m' || char(0) || 'b' || char(10) || 'c' "
                   "AS subject, 'x,\"y\"' AS w"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "subject,w\nCN=a\\x1B[31m\\x00b\\x0Ac,\"x,\"\"y\"\"\"\n");
  for (char c : r.out) {
    const auto b = static_cast<unsigned char>(c);
    EXPECT_TRUE(b >= 0x20 || b == '\n') << "raw control byte " << static_cast<int>(b);
  }
}

TEST_F(QueryCliTest, QueryOverTheHeapCapStopsWithAClearMessage) {
  Child r = Query({"SELECT length(randomblob(300000000)) AS n"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("more than 256 MiB"), std::string::npos) << r.err;
  EXPECT_LT(r.max_rss_kb, 100 * 1024);
}

TEST_F(QueryCliTest, ReportsStreamThroughTheSameWriters) {
  db_ = dir_ + "/history.db";
  {
    Store::Options o;
    o.path = db_;
    auto store = Store::Open(o);
    ASSERT_TRUE(store.ok()) << store.status().message();
  }
  Child table =
      RunBinary({"report", "failing", "--db", db_}, dir_ + "/stderr.txt", std::chrono::seconds(60));
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out, "(no rows)\n");
  Child json = RunBinary({"report", "alerts", "--db", db_, "--format", "json"},
                         dir_ + "/stderr.txt", std::chrono::seconds(60));
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out, "[]\n[]\n");
  Child bad = RunBinary({"report", "failing", "--db", db_, "--timeout", "soon"},
                        dir_ + "/stderr.txt", std::chrono::seconds(60));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("bad --timeout \"soon\""), std::string::npos) << bad.err;
}

// Fleet queries: two histories made by the store API, named alike in two
// directories, read as one; their source is then the path.
TEST_F(QueryCliTest, TwoDatabasesAnswerAsOneWithTheirSourceNamed) {
  const std::string a = dir_ + "/a/history.db", b = dir_ + "/b/history.db", c = dir_ + "/east.db";
  fs::create_directories(dir_ + "/a");
  fs::create_directories(dir_ + "/b");
  for (const auto& [path, origins] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {a, {"alpha", "beta"}}, {b, {"gamma"}}, {c, {"delta"}}}) {
    Store::Options o;
    o.path = path;
    auto store = Store::Open(o);
    ASSERT_TRUE(store.ok()) << store.status().message();
    std::vector<OriginRecord> records;
    for (const std::string& n : origins) records.push_back({n, n + ".example", 443, {}});
    ASSERT_TRUE((*store)->SyncOrigins(records, 1000).ok());
    (*store)->Close();
  }
  Child both = RunBinary({"query", "--db", a, "--db", b, "--db", c, "--format", "csv",
                          "SELECT source, name FROM origins ORDER BY name"},
                         dir_ + "/stderr.txt", std::chrono::seconds(60));
  EXPECT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(both.out, "source,name\n" + a + ",alpha\n" + a + ",beta\neast,delta\n" + b + ",gamma\n");

  // The databases stay read-only: a write through the attached name fails,
  // and a missing file is named.
  Child write = RunBinary({"query", "--db", a, "--db", c, "DELETE FROM s1.origins"}, dir_ + "/stderr.txt",
                          std::chrono::seconds(60));
  EXPECT_EQ(write.exit_code, 2);
  EXPECT_NE(write.err.find("readonly"), std::string::npos) << write.err;
  Child missing = RunBinary({"query", "--db", a, "--db", dir_ + "/nope.db", "SELECT 1"}, dir_ + "/stderr.txt",
                            std::chrono::seconds(60));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope.db\": no such file"), std::string::npos) << missing.err;
  EXPECT_FALSE(fs::exists(dir_ + "/nope.db"));

  // Different schema versions are not combined.
  Exec(c, "PRAGMA user_version = 99");
  Child versions = RunBinary({"query", "--db", a, "--db", c, "SELECT 1"}, dir_ + "/stderr.txt", std::chrono::seconds(60));
  EXPECT_EQ(versions.exit_code, 2);
  EXPECT_NE(versions.err.find("schema version 99"), std::string::npos) << versions.err;
}

}  // namespace
}  // namespace originwatch::testing
