// Proves that the HTTP answer of a probe is stored with it (status, outcome,
// time to first byte, Server, Via, X-Cache, Location), that `latest` and the
// origin report show the status, and that a probe without a request stores NULLs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "diagnose/http_results.h"
#include "originwatch/store.h"
#include "scalar.h"

namespace originwatch::testing {
namespace {

class HttpStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ow-http-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/history.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Scalar(const std::string& sql) const { return ScalarOf(path_, sql); }

  std::string dir_, path_;
};

TEST_F(HttpStoreTest, AnswerIsStoredWithTheProbeAndShownInLatest) {
  {
    Store::Options o;
    o.path = path_;
    auto store = Store::Open(o);
    ASSERT_TRUE(store.ok()) << store.status().message();
    const ProbeSpec front = PlainHttpSpec("front", "www.example.com", "192.0.2.1", "/promo");
    ProbeResult r = PlainAnswer(front, kHttpNowS * 1000, 502, "Bad Gateway");
    r.http.via = "1.1 edge";
    r.http.x_cache = "MISS";
    r.http.location = "https://www.example.com/";
    r.http.ttfb_ms = 17;
    ASSERT_TRUE(
        (*store)->Enqueue(r, FindingRecord{"bad_gateway", "www.example.com/promo answers 502"}));
    ProbeSpec plain_tls = TestSpec("tlsonly", "a.example", "192.0.2.2", "a.example");
    ASSERT_TRUE((*store)->Enqueue(FailedResult(plain_tls, kHttpNowS * 1000, Outcome::kRefused)));
    (*store)->Flush();
  }
  EXPECT_EQ(Scalar("SELECT h.status FROM probes p JOIN variants v ON v.id = p.variant_id "
                   "JOIN probe_http h ON h.probe_id = p.id WHERE v.address = '192.0.2.1'"),
            "502");
  EXPECT_EQ(Scalar("SELECT group_concat(outcome || '|' || ttfb_ms || '|' || server "
                   "|| '|' || via || '|' || x_cache || '|' || location) FROM probe_http"),
            "1|17|nginx/1.22.1|1.1 edge|MISS|https://www.example.com/");
  // The handshake-only probe has no row: it pays nothing for HTTP.
  EXPECT_EQ(Scalar("SELECT count(*) FROM probes"), "2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM probe_http"), "1");
  EXPECT_EQ(Scalar("SELECT http_status || ' ' || http FROM latest WHERE origin = 'front'"),
            "502 ok");
  EXPECT_EQ(Scalar("SELECT coalesce(http_status, 'NULL') || ' ' || coalesce(http, 'NULL') "
                   "FROM latest WHERE origin = 'tlsonly'"),
            "NULL NULL");
  auto report = Report(path_, "origin", "front", kHttpNowS * 1000);
  ASSERT_TRUE(report.ok()) << report.status().message();
  int col = -1;
  for (size_t i = 0; i < report->columns.size(); ++i) {
    if (report->columns[i] == "http_status") col = static_cast<int>(i);
  }
  ASSERT_GE(col, 0);
  ASSERT_FALSE(report->rows.empty());
  EXPECT_EQ(report->rows[0][static_cast<size_t>(col)].value_or("NULL"), "502");
}

}  // namespace
}  // namespace originwatch::testing
