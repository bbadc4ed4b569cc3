// Proves that three `originwatch run --shard i/3` agents on one config (with
// {shard} in the database path) probe every origin exactly once between them,
// each the origins FNV-1a-64(name) mod 3 + 1 gives it; that `query` and
// `report` over their three databases answer for the fleet with a source
// column; and that bad --shard values and more than 10 --db are usage errors.
#include <iostream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "integration/ops_fixture.h"
#include "originwatch/store.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;

// FNV-1a 64, written out here so that the test does not trust the agent's.
uint64_t Fnv(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

class ShardTest : public OpsTest {
 protected:
  std::string ShardDb(int i) const { return (dir_ / ("shard-" + std::to_string(i) + ".db")).string(); }

  // Twelve origins o01..o12 (healthy servers), three agents for 3 s.
  void RunFleet() {
    std::string config = Agent((dir_ / "shard-{shard}.db").string());
    config.insert(config.find("ca_file"), "engine_threads = 2\n");
    for (int i = 1; i <= 12; ++i) {
      const std::string name = (i < 10 ? "o0" : "o") + std::to_string(i);
      names_.push_back(name);
      config += Origin(i % 4 == 0 ? "expired" : "healthy", name);
    }
    WriteConfig(config);
    std::vector<std::unique_ptr<AgentProcess>> agents;
    for (int i = 1; i <= 3; ++i) {
      agents.push_back(std::make_unique<AgentProcess>());
      ASSERT_TRUE(agents.back()->Start({OW_BINARY, "run", "-c", config_, "--shard", std::to_string(i) + "/3",
                                        "--duration", "3s"},
                                       (dir_ / ("agent-" + std::to_string(i) + ".log")).string()));
    }
    for (auto& a : agents) {
      ASSERT_EQ(a->Wait(milliseconds(30000)), 0) << a->Log();
      logs_.push_back(a->Log());
    }
  }

  std::vector<std::string> names_;
  std::vector<std::string> logs_;
};

TEST_F(ShardTest, ThreeShardsProbeEveryOriginExactlyOnce) {
  ASSERT_NO_FATAL_FAILURE(RunFleet());
  std::map<std::string, int> probed_by;  // origin -> shard
  for (int i = 1; i <= 3; ++i) {
    EXPECT_NE(logs_[static_cast<size_t>(i - 1)].find("shard " + std::to_string(i) + "/3: probing "), std::string::npos)
        << logs_[static_cast<size_t>(i - 1)];
    auto q = RunQuery(ShardDb(i), "SELECT o.name, count(*) FROM probes p JOIN variants v ON v.id = p.variant_id "
                                  "JOIN origins o ON o.id = v.origin_id GROUP BY o.name");
    ASSERT_TRUE(q.ok()) << q.status().message();
    for (const auto& row : q->rows) {
      EXPECT_FALSE(probed_by.count(*row[0])) << *row[0] << " probed by shards " << probed_by[*row[0]] << " and " << i;
      probed_by[*row[0]] = i;
      EXPECT_GE(std::stoll(*row[1]), 2) << *row[0];  // probed each round, not once by chance
      EXPECT_EQ(static_cast<int>(Fnv(*row[0]) % 3) + 1, i) << *row[0];
    }
    // The database knows only its own shard's origins.
    auto known = RunQuery(ShardDb(i), "SELECT count(*) FROM origins");
    ASSERT_TRUE(known.ok());
    int expected = 0;
    for (const std::string& n : names_) expected += static_cast<int>(Fnv(n) % 3) + 1 == i;
    EXPECT_EQ(std::stoi(*known->rows[0][0]), expected) << "shard " << i;
    std::cout << "shard " << i << "/3: " << q->rows.size() << " origins probed\n";
  }
  EXPECT_EQ(probed_by.size(), names_.size());
  for (const std::string& n : names_) EXPECT_TRUE(probed_by.count(n)) << n << " was probed by no shard";
  std::set<int> used;
  for (const auto& [o, s] : probed_by) used.insert(s);
  EXPECT_EQ(used.size(), 3u);  // twelve names spread over all three

  // The fleet answers as one: latest over the three databases, with source.
  CliRun fleet = RunBinary(OW_BINARY, "query --format json --db " + ShardDb(1) + " --db " + ShardDb(2) + " --db " +
                                          ShardDb(3) + " 'SELECT source, origin, outcome FROM latest ORDER BY origin'");
  ASSERT_EQ(fleet.exit_code, 0) << fleet.out;
  auto rows = nlohmann::json::parse(fleet.out, nullptr, false);
  ASSERT_TRUE(rows.is_array()) << fleet.out;
  ASSERT_EQ(rows.size(), names_.size()) << fleet.out;
  std::cout << "query over the three databases: " << rows.size() << " rows of latest, e.g. " << rows[0].dump() << "\n";
  for (const auto& r : rows) {
    const std::string origin = r["origin"];
    EXPECT_EQ(r["source"], "shard-" + std::to_string(probed_by[origin])) << r.dump();
    EXPECT_EQ(r["outcome"], "ok") << r.dump();
  }
  // An aggregate over the union, and ATTACH from SQL still refused.
  CliRun count = RunBinary(OW_BINARY, "query --format csv --db " + ShardDb(1) + " --db " + ShardDb(2) + " --db " +
                                          ShardDb(3) + " 'SELECT count(DISTINCT origin) AS n FROM latest'");
  EXPECT_EQ(count.exit_code, 0) << count.out;
  EXPECT_EQ(count.out, "n\n12\n");
  CliRun attach = RunBinary(OW_BINARY, "query --db " + ShardDb(1) + " --db " + ShardDb(2) + " \"ATTACH '" +
                                           (dir_ / "x.db").string() + "' AS x\"");
  EXPECT_EQ(attach.exit_code, 2) << attach.out;
  EXPECT_NE(attach.out.find("ATTACH is refused"), std::string::npos) << attach.out;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "x.db"));
  CliRun write = RunBinary(OW_BINARY, "query --db " + ShardDb(1) + " --db " + ShardDb(2) + " 'DELETE FROM s1.probes'");
  EXPECT_EQ(write.exit_code, 2) << write.out;

  // report expiring across the fleet: the expired certificates of every shard.
  CliRun expiring = RunBinary(OW_BINARY, "report expiring --format json --db " + ShardDb(1) + " --db " + ShardDb(2) +
                                             " --db " + ShardDb(3));
  ASSERT_EQ(expiring.exit_code, 0) << expiring.out;
  auto certs = nlohmann::json::parse(expiring.out, nullptr, false);
  ASSERT_TRUE(certs.is_array()) << expiring.out;
  std::set<std::string> expired_origins, sources;
  std::string last_not_after;
  for (const auto& c : certs) {
    ASSERT_TRUE(c.contains("source")) << c.dump();
    EXPECT_GE(c["not_after"].get<std::string>(), last_not_after) << expiring.out;  // soonest first
    last_not_after = c["not_after"];
    if (c["days_left"].get<int64_t>() < 0) {
      sources.insert(c["source"].get<std::string>());
      for (const char* o : {"o04", "o08", "o12"})
        if (c["origins"].get<std::string>().find(o) != std::string::npos) expired_origins.insert(o);
    }
  }
  EXPECT_EQ(expired_origins, (std::set<std::string>{"o04", "o08", "o12"})) << expiring.out;
  std::set<std::string> expected_sources;
  for (const char* o : {"o04", "o08", "o12"}) expected_sources.insert("shard-" + std::to_string(probed_by[o]));
  EXPECT_EQ(sources, expected_sources) << expiring.out;

  CliRun failing = RunBinary(OW_BINARY, "report failing --format csv --db " + ShardDb(1) + " --db " + ShardDb(2) +
                                            " --db " + ShardDb(3));
  EXPECT_EQ(failing.exit_code, 0) << failing.out;
  EXPECT_EQ(failing.out.rfind("source,origin,", 0), 0u) << failing.out;
}

TEST_F(ShardTest, BadShardValuesAndTooManyDatabasesAreUsageErrors) {
  WriteConfig(Agent(db_) + Origin("healthy"));
  for (const std::string bad : {"0/3", "4/3", "1/0", "1/1025", "x", "2", "1/3/4", "-1/3", ""}) {
    CliRun r = RunBinary(OW_BINARY, "run -c " + config_ + " --duration 1s --shard '" + bad + "'");
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.out;
    EXPECT_NE(r.out.find("bad --shard"), std::string::npos) << bad << ": " << r.out;
    EXPECT_FALSE(std::filesystem::exists(db_)) << bad;  // refused before anything starts
  }
  CliRun ok = RunBinary(OW_BINARY, "run -c " + config_ + " --duration 1s --shard 1024/1024");
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_NE(ok.out.find("shard 1024/1024: probing "), std::string::npos) << ok.out;

  std::string many;
  for (int i = 0; i < 11; ++i) many += " --db " + db_;
  CliRun q = RunBinary(OW_BINARY, "query" + many + " 'SELECT 1'");
  EXPECT_EQ(q.exit_code, 2) << q.out;
  EXPECT_NE(q.out.find("at most 10 --db at once, not 11"), std::string::npos) << q.out;
  CliRun r = RunBinary(OW_BINARY, "report failing" + many);
  EXPECT_EQ(r.exit_code, 2) << r.out;
}

}  // namespace
}  // namespace originwatch::testing
