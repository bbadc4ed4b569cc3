// Proves that an [[origin]]'s url, http table and upstream read what
// docs/config.md promises: the url sets host, port and the check's path, an
// http:// origin probes one plain variant, and expect_status ranges hold.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "originwatch/config.h"

namespace originwatch::testing {
namespace {

std::vector<std::string> Errors(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.ToString());
  return out;
}

AgentConfig MustParse(const std::string& text) {
  LoadResult r = ParseConfig(text, "t.toml");
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(Errors(r));
  return r.config.value_or(AgentConfig{});
}

TEST(HttpKeys, HttpsUrlSetsHostPortPathAndKeepsTheTlsMatrix) {
  AgentConfig c =
      MustParse("[[origin]]\nname = \"front\"\nurl = \"https://WWW.Example.com:8443/promo?x=1\"\n");
  ASSERT_EQ(c.origins.size(), 1u);
  const OriginConfig& o = c.origins[0];
  EXPECT_EQ(o.host, "www.example.com");
  EXPECT_EQ(o.port, 8443);
  ASSERT_TRUE(o.http.has_value());
  EXPECT_FALSE(o.http->plain);
  EXPECT_EQ(o.http->path, "/promo?x=1");
  EXPECT_EQ(o.http->host, "www.example.com:8443");
  EXPECT_EQ(o.http->method, "GET");
  ASSERT_EQ(o.sni.size(), 1u);
  EXPECT_EQ(o.sni[0], "www.example.com");
  EXPECT_EQ(o.expect_names, std::vector<std::string>{"www.example.com"});
}

TEST(HttpKeys, PlainUrlProbesWithoutSniProfilesOrNames) {
  AgentConfig c = MustParse("[[origin]]\nname = \"front\"\nurl = \"http://www.example.com/\"\n");
  const OriginConfig& o = c.origins.at(0);
  EXPECT_EQ(o.port, 80);
  ASSERT_TRUE(o.http.has_value());
  EXPECT_TRUE(o.http->plain);
  EXPECT_EQ(o.http->host, "");  // default: the origin's host, no port
  ASSERT_EQ(o.sni.size(), 1u);
  EXPECT_FALSE(o.sni[0].has_value());
  EXPECT_TRUE(o.expect_names.empty());
  EXPECT_EQ(o.profiles, std::vector<std::string>{"modern"});
}

TEST(HttpKeys, HttpTableReadsStatusesRangesMethodAndHost) {
  AgentConfig c = MustParse(
      "[[origin]]\nname = \"a\"\nhost = \"a.example.com\"\n"
      "http = { path = \"/health\", host = \"h.example.com\", method = \"HEAD\", "
      "expect_status = [204, \"300-302\"] }\n");
  const OriginConfig& o = c.origins.at(0);
  ASSERT_TRUE(o.http.has_value());
  EXPECT_FALSE(o.http->plain);
  EXPECT_EQ(o.http->path, "/health");
  EXPECT_EQ(o.http->host, "h.example.com");
  EXPECT_EQ(o.http->method, "HEAD");
  const std::vector<std::pair<int, int>> want = {{204, 204}, {300, 302}};
  EXPECT_EQ(o.http->expect_status, want);
  EXPECT_TRUE(o.http->Expected(301));
  EXPECT_FALSE(o.http->Expected(200));
}

TEST(HttpKeys, NoHttpKeyMeansHandshakesOnly) {
  AgentConfig c = MustParse("[[origin]]\nname = \"a\"\nhost = \"a.example.com\"\n");
  EXPECT_FALSE(c.origins.at(0).http.has_value());
  EXPECT_EQ(c.origins.at(0).upstream, "");
}

TEST(HttpKeys, UpstreamMayNameAnOriginDefinedLater) {
  AgentConfig c = MustParse(
      "[[origin]]\nname = \"front\"\nurl = \"http://www.example.com/\"\nupstream = \"activity\"\n"
      "[[origin]]\nname = \"activity\"\nhost = \"activity.example.com\"\n");
  EXPECT_EQ(c.origins.at(0).upstream, "activity");
  EXPECT_EQ(c.origins.at(0).upstream_pos.line, 4);
}

TEST(HttpKeys, UrlPathAndHttpPathMustAgree) {
  LoadResult r = ParseConfig(
      "[[origin]]\nname = \"f\"\nurl = \"http://www.example.com/a\"\nhttp = { path = \"/b\" }\n",
      "t.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(),
            "t.toml:4:17: origin \"f\" [http]: \"path\" \"/b\" contradicts the path of \"url\" "
            "\"/a\": give it in one place");
}

}  // namespace
}  // namespace originwatch::testing
