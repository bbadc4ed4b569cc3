// Proves that a config file means what docs/config.md says: the defaults, the
// duration syntax, profile overrides and path resolution, and that every kind of
// mistake is reported with its exact file:line:column message.
#include "originwatch/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/names.h"

namespace originwatch::testing {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> ErrorLines(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.ToString());
  return out;
}

std::vector<std::string> ReadLines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

AgentConfig MustParse(const std::string& text, const std::string& path = "test.toml") {
  LoadResult r = ParseConfig(text, path);
  EXPECT_TRUE(r.errors.empty()) << ::testing::PrintToString(ErrorLines(r));
  EXPECT_TRUE(r.config.has_value());
  return r.config.value_or(AgentConfig{});
}

// Each tests/testdata/config/bad/X.toml has X.expected: the exact messages, one
// per line, with the file named relative to bad/.
TEST(BadConfigs, EachFileReportsExactlyItsExpectedMessages) {
  const fs::path dir = fs::path(OW_TESTDATA_DIR) / "config" / "bad";
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".toml") continue;
    ++files;
    const fs::path expected_path = fs::path(entry.path()).replace_extension(".expected");
    ASSERT_TRUE(fs::exists(expected_path)) << expected_path;
    LoadResult r = LoadConfigFile(entry.path().string());
    EXPECT_FALSE(r.config.has_value()) << entry.path();
    std::vector<std::string> got;
    const std::string prefix = dir.string() + "/";
    for (std::string line : ErrorLines(r)) {
      if (line.starts_with(prefix)) line = line.substr(prefix.size());
      got.push_back(line);
    }
    EXPECT_EQ(got, ReadLines(expected_path)) << "for " << entry.path();
  }
  EXPECT_GE(files, 14);
}

TEST(GoodConfigs, EachFileParsesWithoutErrors) {
  const fs::path dir = fs::path(OW_TESTDATA_DIR) / "config" / "good";
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".toml") continue;
    ++files;
    LoadResult r = LoadConfigFile(entry.path().string());
    EXPECT_TRUE(r.ok()) << entry.path() << ": " << ::testing::PrintToString(ErrorLines(r));
    ASSERT_TRUE(r.config.has_value());
    EXPECT_FALSE(r.config->origins.empty());
  }
  EXPECT_GE(files, 2);
}

TEST(Config, ThreeLineOriginGetsEveryDefault) {
  AgentConfig c = MustParse("[[origin]]\nname=\"x\"\nhost=\"example.com\"\n", "/etc/ow/ow.toml");
  EXPECT_EQ(c.source_path, "/etc/ow/ow.toml");
  EXPECT_EQ(c.database, "/etc/ow/originwatch.db");
  EXPECT_EQ(c.interval_ms, 60000);
  EXPECT_EQ(c.timeout_ms, 10000);
  EXPECT_EQ(c.connect_timeout_ms, 5000);
  EXPECT_EQ(c.retention_ms, 14LL * 86400 * 1000);
  EXPECT_EQ(c.address_retire_after_ms, 3600LL * 1000);
  EXPECT_EQ(c.max_in_flight, 2000);
  EXPECT_EQ(c.max_per_address, 8);
  EXPECT_EQ(c.engine_threads, 1);
  EXPECT_EQ(c.ca_file, "/etc/ssl/certs/ca-certificates.crt");
  EXPECT_EQ(c.log_level, "info");
  ASSERT_EQ(c.profiles.size(), 2u);
  EXPECT_EQ(c.profiles[0].name, "modern");
  EXPECT_EQ(c.profiles[1].name, "legacy-rsa");
  EXPECT_TRUE(c.webhooks.empty());

  ASSERT_EQ(c.origins.size(), 1u);
  const OriginConfig& o = c.origins[0];
  EXPECT_EQ(o.name, "x");
  EXPECT_EQ(o.host, "example.com");
  EXPECT_EQ(o.port, 443);
  EXPECT_TRUE(o.connect.empty());
  EXPECT_EQ(o.sni, (std::vector<std::optional<std::string>>{"example.com"}));
  EXPECT_EQ(o.expect_names, (std::vector<std::string>{"example.com"}));
  EXPECT_EQ(o.profiles, (std::vector<std::string>{"modern"}));
  EXPECT_TRUE(o.tags.empty());
  EXPECT_EQ(o.interval_ms, 60000);
  EXPECT_EQ(o.timeout_ms, 10000);
  EXPECT_EQ(o.connect_timeout_ms, 5000);
  EXPECT_EQ(o.line, 1);
  EXPECT_EQ(c.FindOrigin("x"), &c.origins[0]);
  EXPECT_EQ(c.FindOrigin("y"), nullptr);
}

TEST(Config, IpHostDefaultsToNoSniAndNoExpectedNames) {
  AgentConfig c = MustParse("[[origin]]\nname = \"edge\"\nhost = \"2001:db8::10\"\n");
  ASSERT_EQ(c.origins.size(), 1u);
  EXPECT_EQ(c.origins[0].sni, (std::vector<std::optional<std::string>>{std::nullopt}));
  EXPECT_TRUE(c.origins[0].expect_names.empty());
}

TEST(Config, ExplicitOriginKeysOverrideAgentDefaults) {
  AgentConfig c = MustParse(R"(
[agent]
interval = "2m"
timeout = "3s"

[[origin]]
name = "promo"
host = "activity.example.com"
port = 8443
connect = ["192.0.2.10", "2001:db8::10"]
sni = ["activity.example.com", "none", "www.example.com"]
expect_names = ["activity.example.com", "192.0.2.10"]
profiles = ["modern", "legacy-rsa"]
tags = ["cdn", "team-web"]
timeout = "2s"

[[origin]]
name = "api"
host = "api.example.com"
interval = "1m30s"
)");
  EXPECT_EQ(c.connect_timeout_ms, 3000);  // min(5s, timeout)
  ASSERT_EQ(c.origins.size(), 2u);
  const OriginConfig& o = c.origins[0];
  EXPECT_EQ(o.port, 8443);
  EXPECT_EQ(o.connect, (std::vector<std::string>{"192.0.2.10", "2001:db8::10"}));
  EXPECT_EQ(o.sni, (std::vector<std::optional<std::string>>{"activity.example.com", std::nullopt,
                                                            "www.example.com"}));
  EXPECT_EQ(o.expect_names, (std::vector<std::string>{"activity.example.com", "192.0.2.10"}));
  EXPECT_EQ(o.profiles, (std::vector<std::string>{"modern", "legacy-rsa"}));
  EXPECT_EQ(o.tags, (std::vector<std::string>{"cdn", "team-web"}));
  EXPECT_EQ(o.interval_ms, 120000);
  EXPECT_EQ(o.timeout_ms, 2000);
  EXPECT_EQ(o.connect_timeout_ms, 2000);  // never above the origin's timeout
  EXPECT_EQ(o.line, 6);
  EXPECT_EQ(c.origins[1].interval_ms, 90000);
  EXPECT_EQ(c.origins[1].timeout_ms, 3000);
}

TEST(Config, ProfileTableOverridesBuiltinKeepingUnsetKeysAndOrder) {
  AgentConfig c = MustParse(R"(
[profiles.old-proxy]
max_version = "TLSv1.2"
ciphers = "AES128-SHA"
description = "the proxy in front of the shop"

[profiles.modern]
max_version = "TLSv1.2"
alpn = ["http/1.1"]

[[origin]]
name = "x"
host = "example.com"
profiles = ["old-proxy", "modern"]
)");
  ASSERT_EQ(c.profiles.size(), 3u);
  EXPECT_EQ(c.profiles[0].name, "modern");
  EXPECT_EQ(c.profiles[1].name, "legacy-rsa");
  EXPECT_EQ(c.profiles[2].name, "old-proxy");

  const ClientProfile* modern = c.FindProfile("modern");
  ASSERT_NE(modern, nullptr);
  EXPECT_EQ(modern->max_version, "TLSv1.2");
  EXPECT_EQ(modern->alpn, (std::vector<std::string>{"http/1.1"}));
  const ClientProfile* builtin = FindBuiltinProfile("modern");
  EXPECT_EQ(modern->min_version, builtin->min_version);
  EXPECT_EQ(modern->ciphers, builtin->ciphers);
  EXPECT_EQ(modern->groups, builtin->groups);

  const ClientProfile* old = c.FindProfile("old-proxy");
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->min_version, "");  // library default
  EXPECT_EQ(old->max_version, "TLSv1.2");
  EXPECT_EQ(old->ciphers, "AES128-SHA");
  EXPECT_EQ(old->description, "the proxy in front of the shop");
  EXPECT_EQ(c.FindProfile("legacy"), nullptr);
}

TEST(Config, RelativePathsResolveAgainstTheConfigDirectory) {
  const std::string origin = "\n[[origin]]\nname = \"x\"\nhost = \"example.com\"\n";
  AgentConfig c =
      MustParse("[agent]\ndatabase = \"data/ow.db\"\nca_file = \"ca.pem\"\n" + origin +
                    "[[webhook]]\nname = \"ops\"\nurl = \"https://h.example.com/\"\nsecret_file = "
                    "\"secret\"\n",
                "/etc/originwatch/agent.toml");
  EXPECT_EQ(c.database, "/etc/originwatch/data/ow.db");
  EXPECT_EQ(c.ca_file, "/etc/originwatch/ca.pem");
  ASSERT_EQ(c.webhooks.size(), 1u);
  EXPECT_EQ(c.webhooks[0].secret_file, "/etc/originwatch/secret");

  EXPECT_EQ(MustParse("[agent]\ndatabase = \"/var/lib/ow.db\"\n" + origin, "/etc/a.toml").database,
            "/var/lib/ow.db");
  EXPECT_EQ(MustParse("[agent]\ndatabase = \":memory:\"\n" + origin, "/etc/a.toml").database,
            ":memory:");
  EXPECT_EQ(MustParse("[agent]\ndatabase = \"ow.db\"\n" + origin, "a.toml").database, "ow.db");
  EXPECT_EQ(MustParse("[agent]\ndatabase = \"ow.db\"\n" + origin, "conf/a.toml").database,
            "conf/ow.db");
}

TEST(Config, WebhookDefaultsAndFilters) {
  AgentConfig c = MustParse(R"(
[[origin]]
name = "x"
host = "example.com"

[[webhook]]
name = "ops"
url = "https://hooks.example.com/tls"

[[webhook]]
name = "chat"
url = "http://127.0.0.1:8080/hook"
secret_env = "CHAT_SECRET"
format = "slack"
timeout = "2s"
max_age = "1h"
rules = ["handshake_failed"]
severities = ["warning", "critical"]
tags = ["cdn"]
)");
  ASSERT_EQ(c.webhooks.size(), 2u);
  const WebhookConfig& ops = c.webhooks[0];
  EXPECT_EQ(ops.format, "json");
  EXPECT_EQ(ops.timeout_ms, 5000);
  EXPECT_EQ(ops.max_age_ms, 24LL * 3600 * 1000);
  EXPECT_EQ(ops.secret_env, "");
  EXPECT_EQ(ops.secret_file, "");
  EXPECT_TRUE(ops.rules.empty() && ops.severities.empty() && ops.tags.empty());
  const WebhookConfig& chat = c.webhooks[1];
  EXPECT_EQ(chat.secret_env, "CHAT_SECRET");
  EXPECT_EQ(chat.format, "slack");
  EXPECT_EQ(chat.timeout_ms, 2000);
  EXPECT_EQ(chat.max_age_ms, 3600000);
  EXPECT_EQ(chat.rules, (std::vector<std::string>{"handshake_failed"}));
  EXPECT_EQ(chat.severities, (std::vector<std::string>{"warning", "critical"}));
  EXPECT_EQ(chat.tags, (std::vector<std::string>{"cdn"}));
  EXPECT_EQ(chat.line, 10);
}

TEST(Config, RecordsWhereEachCheckedKeyIsSoLaterChecksCanPointAtIt) {
  AgentConfig c = MustParse(R"([agent]
database = "db.sqlite"
  ca_file = "ca.pem"

[profiles.old]
ciphers = "AES128-SHA"

[alerts]
fail_after = 3

[[origin]]
name = "a"
host = "a.example"
[origin.alerts]
resolve_after = 4

[[webhook]]
name = "ops"
url = "https://hooks.example/x"
  secret_env = "OPS_SECRET"
[[webhook]]
name = "chat"
url = "https://hooks.example/y"
secret_file = "chat.secret"
)");
  EXPECT_EQ(c.database_pos.line, 2);
  EXPECT_EQ(c.database_pos.column, 1);
  EXPECT_EQ(c.ca_file_pos.line, 3);
  EXPECT_EQ(c.ca_file_pos.column, 3);
  ASSERT_EQ(c.profile_sources.size(), 1u);
  const ProfileSource* old = c.FindProfileSource("old");
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->table.line, 5);
  EXPECT_EQ(old->KeyOrTable("ciphers").line, 6);
  EXPECT_EQ(old->KeyOrTable("ciphers").column, 1);
  EXPECT_EQ(old->KeyOrTable("groups").line, 5);  // not in the file: the table
  EXPECT_EQ(c.FindProfileSource("modern"), nullptr);
  EXPECT_EQ(c.alerts.pos.line, 8);
  ASSERT_EQ(c.origins.size(), 1u);
  EXPECT_EQ(c.origins[0].line, 11);
  EXPECT_EQ(c.origins[0].column, 1);
  EXPECT_EQ(c.origins[0].alerts.pos.line, 14);
  ASSERT_EQ(c.webhooks.size(), 2u);
  EXPECT_EQ(c.webhooks[0].secret_env_pos.line, 20);
  EXPECT_EQ(c.webhooks[0].secret_env_pos.column, 3);
  EXPECT_EQ(c.webhooks[0].secret_file_pos.line, 0);
  EXPECT_EQ(c.webhooks[1].secret_file_pos.line, 24);

  AgentConfig defaults = MustParse("[[origin]]\nname = \"a\"\nhost = \"a.example\"\n");
  EXPECT_EQ(defaults.ca_file_pos.line, 0);
  EXPECT_EQ(defaults.database_pos.line, 0);
  EXPECT_EQ(defaults.alerts.pos.line, 0);
  EXPECT_TRUE(defaults.profile_sources.empty());
}

TEST(Config, MissingFileIsOneErrorWithoutPosition) {
  LoadResult r = LoadConfigFile("/nonexistent/originwatch.toml");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(ErrorLines(r),
            (std::vector<std::string>{"/nonexistent/originwatch.toml: cannot read "
                                      "\"/nonexistent/originwatch.toml\": No such file or "
                                      "directory"}));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 0);
}

TEST(Config, DirectoryIsUnreadable) {
  const std::string dir = std::string(OW_TESTDATA_DIR) + "/config";
  LoadResult r = LoadConfigFile(dir);
  EXPECT_EQ(ErrorLines(r),
            (std::vector<std::string>{dir + ": cannot read \"" + dir + "\": Is a directory"}));
}

TEST(Config, ExampleConfigParsesAndShowsTheDefaults) {
  LoadResult r = LoadConfigFile(OW_EXAMPLE_CONFIG);
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(ErrorLines(r));
  const AgentConfig& ex = *r.config;
  // The [agent] table of the example sets every key to its default.
  AgentConfig d = MustParse("[[origin]]\nname=\"x\"\nhost=\"example.com\"\n");
  EXPECT_EQ(fs::path(ex.database).filename(), fs::path(d.database).filename());
  EXPECT_EQ(ex.interval_ms, d.interval_ms);
  EXPECT_EQ(ex.timeout_ms, d.timeout_ms);
  EXPECT_EQ(ex.connect_timeout_ms, d.connect_timeout_ms);
  EXPECT_EQ(ex.retention_ms, d.retention_ms);
  EXPECT_EQ(ex.max_in_flight, d.max_in_flight);
  EXPECT_EQ(ex.max_per_address, d.max_per_address);
  EXPECT_EQ(ex.engine_threads, d.engine_threads);
  EXPECT_EQ(ex.ca_file, d.ca_file);
  EXPECT_EQ(ex.log_level, d.log_level);
  EXPECT_EQ(ex.resolvers, d.resolvers);
  EXPECT_EQ(ex.dns_min_ttl_ms, d.dns_min_ttl_ms);
  EXPECT_EQ(ex.dns_max_ttl_ms, d.dns_max_ttl_ms);
  EXPECT_EQ(ex.address_retire_after_ms, d.address_retire_after_ms);
  EXPECT_GE(ex.origins.size(), 2u);
  EXPECT_GE(ex.webhooks.size(), 1u);
  EXPECT_NE(ex.FindProfile("legacy-rsa"), nullptr);
}

TEST(Config, ConnectTimeoutMayBeShorterThanTimeout) {
  AgentConfig c = MustParse(
      "[agent]\ntimeout = \"20s\"\nconnect_timeout = \"2s\"\n[[origin]]\nname = \"x\"\nhost = "
      "\"example.com\"\ntimeout = \"1s\"\n");
  EXPECT_EQ(c.connect_timeout_ms, 2000);
  EXPECT_EQ(c.origins[0].connect_timeout_ms, 1000);
}

TEST(Config, ErrorsComeInFileOrderAndAllAreReported) {
  LoadResult r = ParseConfig(R"([[origin]]
name = "b"
host = "bad host"
port = 0

[agent]
max_in_flight = 0
)",
                             "t.toml");
  EXPECT_EQ(ErrorLines(r),
            (std::vector<std::string>{
                "t.toml:3:8: origin \"b\": invalid host \"bad host\": not a DNS name or an IP "
                "address",
                "t.toml:4:8: origin \"b\": \"port\" must be between 1 and 65535, not 0",
                "t.toml:7:17: \"max_in_flight\" must be between 1 and 100000, not 0"}));
}

TEST(Config, ErrorToStringFormats) {
  EXPECT_EQ((ConfigError{"a.toml", 3, 7, "boom"}).ToString(), "a.toml:3:7: boom");
  EXPECT_EQ((ConfigError{"a.toml", 0, 0, "boom"}).ToString(), "a.toml: boom");
}

TEST(Durations, ParseTable) {
  struct Case {
    const char* text;
    std::optional<int64_t> ms;
  };
  const Case cases[] = {
      {"500ms", 500},
      {"90s", 90000},
      {"5m", 300000},
      {"1h", 3600000},
      {"14d", 14LL * 86400000},
      {"1m30s", 90000},
      {"1h30m", 5400000},
      {"1d2h3m4s5ms", 86400000LL + 7200000 + 180000 + 4000 + 5},
      {"0s", 0},
      {"0500ms", 500},
      {"", std::nullopt},
      {"90", std::nullopt},
      {"s", std::nullopt},
      {"1.5s", std::nullopt},
      {"-5s", std::nullopt},
      {"+5s", std::nullopt},
      {" 5s", std::nullopt},
      {"5s ", std::nullopt},
      {"5 s", std::nullopt},
      {"5S", std::nullopt},
      {"5sec", std::nullopt},
      {"5 minutes", std::nullopt},
      {"30s1m", std::nullopt},  // units must decrease
      {"1m1m", std::nullopt},
      {"1w", std::nullopt},
      {"99999999999999999999s", std::nullopt},  // overflow
      {"106751991168d", std::nullopt},          // overflow after the unit
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseDurationMs(c.text), c.ms) << "\"" << c.text << "\"";
  }
}

TEST(Durations, FormatIsReadBack) {
  EXPECT_EQ(FormatDurationMs(0), "0s");
  EXPECT_EQ(FormatDurationMs(90000), "1m30s");
  EXPECT_EQ(FormatDurationMs(14LL * 86400000), "14d");
  EXPECT_EQ(FormatDurationMs(1500), "1s500ms");
  for (int64_t ms : {1LL, 999LL, 1000LL, 61001LL, 86400000LL + 1, 123456789012LL}) {
    EXPECT_EQ(ParseDurationMs(FormatDurationMs(ms)), ms) << ms;
  }
}

TEST(Names, DnsNamesAndAddresses) {
  using config_internal::IsDnsName;
  using config_internal::IsIpLiteral;
  EXPECT_TRUE(IsDnsName("activity.example.com"));
  EXPECT_TRUE(IsDnsName("localhost"));
  EXPECT_TRUE(IsDnsName("xn--bcher-kva.example"));
  EXPECT_TRUE(IsDnsName("1.example.com"));
  EXPECT_FALSE(IsDnsName("192.0.2.300"));
  EXPECT_FALSE(IsDnsName("a..b"));
  EXPECT_FALSE(IsDnsName("example.com."));
  EXPECT_FALSE(IsDnsName("-a.com"));
  EXPECT_FALSE(IsDnsName("a-.com"));
  EXPECT_FALSE(IsDnsName("a_b.com"));
  EXPECT_FALSE(IsDnsName(std::string(64, 'a') + ".com"));
  EXPECT_TRUE(IsDnsName(std::string(63, 'a') + ".com"));
  std::string long_name;
  while (long_name.size() <= 250) long_name += "abcdefghi.";
  long_name += "com";
  EXPECT_GT(long_name.size(), 253u);
  EXPECT_FALSE(IsDnsName(long_name));
  EXPECT_TRUE(IsIpLiteral("192.0.2.10"));
  EXPECT_TRUE(IsIpLiteral("2001:db8::10"));
  EXPECT_TRUE(IsIpLiteral("::ffff:192.0.2.1"));
  EXPECT_FALSE(IsIpLiteral("[2001:db8::10]"));
  EXPECT_FALSE(IsIpLiteral("192.0.2"));
  EXPECT_FALSE(IsIpLiteral("example.com"));
}

TEST(Config, AddressRetireAfterIsADuration) {
  AgentConfig c = MustParse("[agent]\naddress_retire_after = \"30m\"\n[[origin]]\nname=\"x\"\nhost=\"example.com\"\n",
                            "ow.toml");
  EXPECT_EQ(c.address_retire_after_ms, 30LL * 60 * 1000);
  EXPECT_EQ(MustParse("[agent]\naddress_retire_after = 90\n[[origin]]\nname=\"x\"\nhost=\"example.com\"\n", "ow.toml")
                .address_retire_after_ms,
            90'000);  // a bare integer is seconds, as for every duration
  LoadResult bad = ParseConfig("[agent]\naddress_retire_after = \"soon\"\n[[origin]]\nname=\"x\"\nhost=\"example.com\"\n",
                               "ow.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.errors[0].ToString().find("ow.toml:2:"), std::string::npos) << bad.errors[0].ToString();
  EXPECT_NE(bad.errors[0].ToString().find("address_retire_after"), std::string::npos) << bad.errors[0].ToString();
}

TEST(Names, DidYouMeanWithinTwoEdits) {
  using config_internal::Closest;
  using config_internal::EditDistance;
  EXPECT_EQ(EditDistance("intervall", "interval"), 1);
  EXPECT_EQ(EditDistance("hots", "host"), 1);  // a transposition is one edit
  EXPECT_EQ(EditDistance("", "abc"), 3);
  const std::string_view keys[] = {"interval", "timeout", "retention"};
  EXPECT_EQ(Closest("intervl", keys), "interval");
  EXPECT_EQ(Closest("timeuot", keys), "timeout");
  EXPECT_EQ(Closest("colour", keys), "");
}

}  // namespace
}  // namespace originwatch::testing
