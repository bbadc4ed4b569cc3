// Proves that nginx configurations are read as nginx reads them: includes with
// globs, upstream blocks, proxy_ssl_* inheritance, variables, comments and
// quoting, `nginx -T` dumps and version defaults, each file against its
// expected routes (tests/testdata/nginx/*/expected.txt), and that broken files
// fail with file:line.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "nginx/conf_parser.h"
#include "originwatch/nginx.h"

namespace originwatch {
namespace {

const std::string kRoot = OW_TESTDATA_DIR "/nginx";

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Rel(std::string s) {
  for (size_t at; (at = s.find(kRoot + "/")) != std::string::npos;) s.erase(at, kRoot.size() + 1);
  return s;
}

std::string List(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + v[i];
  return out + "]";
}

// One line per route, the form of expected.txt.
std::string Describe(const ProxyRoute& r) {
  std::ostringstream o;
  o << r.where.file << ":" << r.where.line << " listen=" << List(r.listen) << " server_name=" << List(r.server_name)
    << " location=" << r.location << " proxy_pass=" << r.proxy_pass;
  if (!r.not_checked_reason.empty()) {
    o << " not_checked=" << r.not_checked_reason;
    return Rel(o.str());
  }
  const ProxyTls& t = r.tls_settings;
  o << " block=" << r.upstream_block << " servers=[";
  for (size_t i = 0; i < r.servers.size(); ++i) {
    o << (i ? " " : "") << r.servers[i].host << ":" << r.servers[i].port << "@" << r.servers[i].where.file << ":"
      << r.servers[i].where.line;
  }
  o << "] sni=" << (t.send_sni ? "on" : "off") << " name=" << t.sni_name << (t.sni_name_is_upstream_block ? "(block)" : "")
    << " protocols=" << List(t.protocols) << " ciphers=" << t.ciphers
    << " verify=" << (t.verify ? "on:" + t.trusted_certificate : "off") << " depth=" << t.verify_depth;
  return Rel(o.str());
}

std::string DescribeAll(const ProxyConfig& cfg) {
  std::string out;
  for (const ProxyRoute& r : cfg.routes) out += Describe(r) + "\n";
  return out;
}

Result<ProxyConfig> Load(const std::string& file, const std::string& version = "1.22.1") {
  NginxLoadOptions o;
  o.path = kRoot + "/" + file;
  o.version = version;
  return LoadNginxRoutes(o);
}

void ExpectCase(const std::string& dir) {
  auto cfg = Load(dir + "/nginx.conf");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(DescribeAll(cfg.value()), Read(kRoot + "/" + dir + "/expected.txt"));
}

TEST(NginxRoutes, IncludesWithGlobsAndUpstreamBlocksFollowNginx) { ExpectCase("includes"); }
TEST(NginxRoutes, ProxySslSettingsInheritHttpServerLocationAndNested) { ExpectCase("inheritance"); }
TEST(NginxRoutes, ProxyPassWithVariablesIsListedAsNotChecked) { ExpectCase("variables"); }
TEST(NginxRoutes, CommentsAndQuotingReadAsNginxDoes) { ExpectCase("quoting"); }

TEST(NginxRoutes, NginxDashTOutputIsReadFileByFile) {
  NginxLoadOptions o;
  o.path = "-";
  o.version = "1.22.1";
  o.dump_text = Read(kRoot + "/dump/nginx-T.txt");
  auto cfg = LoadNginxRoutes(o);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(DescribeAll(cfg.value()), Read(kRoot + "/dump/expected.txt"));
}

TEST(NginxRoutes, DashTOutputWithoutSectionsIsAUsageError) {
  NginxLoadOptions o;
  o.path = "-";
  o.dump_text = "events {}\n";
  auto cfg = LoadNginxRoutes(o);
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.status().message(), "-:1: not the output of nginx -T (no \"# configuration file PATH:\" line)");
}

TEST(NginxRoutes, DefaultProtocolsFollowTheNginxVersion) {
  for (const auto& [version, protocols] : std::vector<std::pair<std::string, std::string>>{
           {"1.22.1", "[TLSv1 TLSv1.1 TLSv1.2]"},
           {"1.23.3", "[TLSv1 TLSv1.1 TLSv1.2]"},
           {"1.23.4", "[TLSv1.2 TLSv1.3]"},
           {"1.25.0", "[TLSv1.2 TLSv1.3]"}}) {
    auto cfg = Load("versions/nginx.conf", version);
    ASSERT_TRUE(cfg.ok()) << cfg.status().message();
    ASSERT_EQ(cfg->routes.size(), 1u);
    EXPECT_EQ(List(cfg->routes[0].tls_settings.protocols), protocols) << version;
  }
}

TEST(NginxRoutes, PrefixOptionMovesRelativeIncludes) {
  // The includes case's main file read with another prefix: its relative
  // includes now resolve there, where there is no mime.types.
  NginxLoadOptions o;
  o.path = kRoot + "/includes/nginx.conf";
  o.prefix = kRoot + "/quoting";
  auto cfg = LoadNginxRoutes(o);
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(Rel(cfg.status().message()), "includes/nginx.conf:4: include \"mime.types\": cannot open \"quoting/mime.types\"");
}

TEST(NginxImport, WatchesEachUpstreamTwiceAndEachFrontWithItsUpstream) {
  NginxLoadOptions o;
  o.path = "-";
  o.version = "1.22.1";
  o.dump_text = Read(kRoot + "/dump/nginx-T.txt");
  auto cfg = LoadNginxRoutes(o);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  cfg->version_source = "--nginx-version";
  const std::string toml = RenderImportToml(cfg.value());
  // Upstream block activity.example.com as nginx reaches it: no SNI, nginx's profile.
  for (const char* want : {
           "[profiles.nginx-activity-example-com-443]\n",
           "min_version = \"TLSv1\"\nmax_version = \"TLSv1.2\"\nciphers = \"DEFAULT\"\nalpn = []\n",
           "[[origin]]\nname = \"activity.example.com-via-nginx\"\nhost = \"activity.example.com\"\nport = 443\n"
           "connect = [\"192.0.2.10\"]\nsni = [\"none\"]\n",
           "[[origin]]\nname = \"activity.example.com\"\nhost = \"activity.example.com\"\nport = 443\n"
           "connect = [\"192.0.2.10\"]\ntags",
           // cdn.example.net: nginx sends SNI (http-level proxy_ssl_server_name on).
           "name = \"cdn.example.net-via-nginx\"\nhost = \"cdn.example.net\"\nport = 443\nsni = [\"cdn.example.net\"]\n",
           // Fronts with their upstream.
           "url = \"http://127.0.0.1:80/promo\"\nhttp = { path = \"/promo\", host = \"www.example.com\" }\n"
           "upstream = \"activity.example.com-via-nginx\"\n",
           "url = \"http://127.0.0.1:80/\"\nhttp = { path = \"/\", host = \"static.example.com\" }\n"
           "upstream = \"cdn.example.net-via-nginx\"\n",
           "(/etc/nginx/sites-enabled/promo:9)"}) {
    EXPECT_NE(toml.find(want), std::string::npos) << "missing:\n" << want << "\nin:\n" << toml;
  }
}

class BadConfig : public ::testing::TestWithParam<std::string> {};

TEST_P(BadConfig, FailsWithFileAndLine) {
  auto cfg = Load("bad/" + GetParam() + ".conf");
  ASSERT_FALSE(cfg.ok());
  std::string expected = Read(kRoot + "/bad/" + GetParam() + ".expected");
  while (!expected.empty() && expected.back() == '\n') expected.pop_back();
  EXPECT_EQ(Rel(cfg.status().message()), expected);
}

INSTANTIATE_TEST_SUITE_P(NginxRoutes, BadConfig,
                         ::testing::Values("unbalanced", "missing_semicolon", "unterminated_quote",
                                           "missing_include", "extra_brace"));

TEST(NginxTokens, VariableBracesAreNotBlocks) {
  auto d = nginx::ParseConfigText("set $x \"${a}b\"; proxy_pass https://${host}:1;\n", "t");
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[1].args.at(0), "https://${host}:1");
  EXPECT_FALSE((*d)[1].has_block);
}

}  // namespace
}  // namespace originwatch
