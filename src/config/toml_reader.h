// Private to src/config: the reader that turns a parsed TOML document into an
// AgentConfig, collecting every error with its position. Split by concern:
// toml_reader.cc holds the typed readers of single values, parse_sections.cc
// the whole-file pass and the [agent], [profiles.*] and [alerts] tables,
// parse_entries.cc the [[origin]] and [[webhook]] tables.
//
// toml++ is used in its no-exceptions mode (TOML_EXCEPTIONS=0, set on the
// target): a syntax error comes back as a value with a position. The distro's
// libtomlplusplus.so (3.3) is built with exceptions and exports only the
// toml::v3::ex:: parse functions, so src/config compiles toml++ header-only
// (overriding the TOML_SHARED_LIB=1 / TOML_HEADER_ONLY=0 that the imported CMake
// target adds). Only the files of src/config include this header, and no public
// header includes toml++.
#pragma once

#undef TOML_SHARED_LIB
#define TOML_SHARED_LIB 0
#undef TOML_HEADER_ONLY
#define TOML_HEADER_ONLY 1
#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "originwatch/config.h"

#if TOML_EXCEPTIONS
#error "src/config must be compiled with TOML_EXCEPTIONS=0"
#endif

namespace originwatch::config_internal {

inline constexpr std::string_view kTopKeys[] = {"agent", "profiles", "origin", "webhook", "alerts",
                                                "alertmanager"};
inline constexpr std::string_view kAlertKeys[] = {"fail_after",
                                                  "resolve_after",
                                                  "expiry_warning_days",
                                                  "expiry_critical_days",
                                                  "lifetime_warning_fraction",
                                                  "lifetime_critical_fraction",
                                                  "downgrade_accept_after_days"};
inline constexpr std::string_view kAgentKeys[] = {"database",
                                                  "interval",
                                                  "timeout",
                                                  "connect_timeout",
                                                  "max_in_flight",
                                                  "max_per_address",
                                                  "engine_threads",
                                                  "retention",
                                                  "ca_file",
                                                  "log_level",
                                                  "address_retire_after",
                                                  "resolvers",
                                                  "dns_min_ttl",
                                                  "dns_max_ttl",
                                                  "listen", "metrics_per_variant", "enable_reload"};
inline constexpr std::string_view kProfileKeys[] = {
    "min_version", "max_version", "ciphers", "ciphersuites", "groups", "alpn", "description"};
inline constexpr std::string_view kOriginKeys[] = {
    "name",     "host",    "port", "connect", "sni",       "expect_names", "profiles",
    "interval", "timeout", "tags", "alerts",  "addresses", "family",
    "url",      "http",    "upstream"};
inline constexpr std::string_view kHttpKeys[] = {"path", "host", "expect_status", "method"};
inline constexpr std::string_view kHttpMethods[] = {"GET", "HEAD"};
inline constexpr std::string_view kWebhookKeys[] = {
    "name",    "url",     "secret_env", "secret_file", "format",
    "timeout", "max_age", "rules",      "severities",  "tags", "signing"};
inline constexpr std::string_view kAlertmanagerKeys[] = {
    "name",       "url",  "timeout",          "resend_interval",  "max_age",
    "rules",      "severities", "tags",       "bearer_token_env", "bearer_token_file"};
inline constexpr std::string_view kSignings[] = {"originwatch", "standard-webhooks"};
inline constexpr std::string_view kAddressModes[] = {"all", "first"};
inline constexpr std::string_view kFamilies[] = {"any", "ipv4", "ipv6"};
inline constexpr std::string_view kLogLevels[] = {"debug", "info", "warn", "error"};
inline constexpr std::string_view kTlsVersions[] = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
inline constexpr std::string_view kFormats[] = {"json", "slack"};
inline constexpr std::string_view kSeverities[] = {"info", "warning", "critical"};
inline constexpr std::string_view kIdentifierRule = "use letters, digits, '.', '_' and '-'";

inline constexpr int64_t kMaxDurationMs = 3650LL * 86400 * 1000;  // ten years: beyond is a typo

// "a string", "an integer", ... for messages.
std::string TypeName(const toml::node& n);
std::string Join(std::span<const std::string_view> words, std::string_view sep);
// "(did you mean "x"?)" when a candidate is close, else "(known: a, b, c)".
std::string Suggest(std::string_view word, std::span<const std::string_view> candidates);
bool Contains(std::span<const std::string_view> set, std::string_view word);
// "\"a\", \"b\" or \"c\"": the allowed values of a key, for messages.
std::string QuotedChoices(std::span<const std::string_view> choices);
// Index in kTlsVersions, -1 when not there.
int VersionRank(std::string_view v);

struct Entry {
  const toml::key* key;
  const toml::node* value;
};

// toml::table is ordered by key; messages and profile order follow the file.
std::vector<Entry> InFileOrder(const toml::table& t);

// Where a key or node begins in the file.
SourcePos PosOf(const toml::source_region& where);
// Where key is written in t; line 0 when t has no such key.
SourcePos KeyPos(const toml::table& t, std::string_view key);

// A string array element with the node it came from (for positions).
struct Item {
  std::string value;
  const toml::node* node;
};

// One pass over one file. Run may be called once.
class Parser {
 public:
  explicit Parser(std::string file);
  LoadResult Run(std::string_view text);

 private:
  void Error(const toml::source_region& where, std::string message);
  void Error(const toml::node& n, std::string message);
  void ErrorWithoutPosition(std::string message);
  std::string ResolvePath(const std::string& p) const;

  // Unknown keys of t, with a did-you-mean among allowed. where: "[agent]",
  // "origin \"promo\"", ...
  void CheckKeys(const toml::table& t, std::span<const std::string_view> allowed,
                 const std::string& where);
  // [[name]] tables; anything else under that key is an error.
  template <typename Fn>
  void ForEachArrayTable(const toml::table& root, std::string_view name, bool required, Fn fn);

  // Typed readers: on a type or range error they record it at n and return false.
  bool ReadString(const toml::node& n, std::string_view key, const std::string& prefix,
                  std::string* out);
  bool ReadNonEmptyString(const toml::node& n, std::string_view key, const std::string& prefix,
                          std::string* out);
  bool ReadInt(const toml::node& n, std::string_view key, const std::string& prefix, int64_t lo,
               int64_t hi, int64_t* out);
  // A duration string, or an integer number of seconds; positive, at most ten years.
  bool ReadDuration(const toml::node& n, std::string_view key, const std::string& prefix,
                    int64_t* out);
  // An array of strings; false (with errors at the offending elements) otherwise.
  bool ReadStringList(const toml::node& n, std::string_view key, const std::string& prefix,
                      std::vector<Item>* out);
  static std::vector<std::string> Values(const std::vector<Item>& items);
  bool ReadFraction(const toml::node& n, std::string_view key, const std::string& prefix,
                    double* out);

  // [alerts] or [origin.alerts]: thresholds, all optional.
  void ParseAlerts(const toml::table& t, const std::string& where, AlertSettings* a);
  void ParseAgent(const toml::table& t, AgentConfig& cfg);
  // [agent] resolvers, dns_min_ttl and dns_max_ttl.
  void ParseDns(const toml::table& t, AgentConfig& cfg);
  // [[origin]] addresses and family; false after an error.
  bool ParseAddressChoice(const toml::table& t, const std::string& prefix, OriginConfig& o);
  void ParseProfiles(const toml::table& profiles, AgentConfig& cfg);
  // The name of an [[origin]] or [[webhook]]: sets *where for later messages,
  // checks syntax and uniqueness. Returns the name ("" when bad).
  std::string ReadEntityName(const toml::table& t, std::string_view kind, int line,
                             std::unordered_map<std::string, int>& seen, std::string* where);
  void ParseOrigin(const toml::table& t, AgentConfig& cfg);
  // parse_http.cc: the `url` of an [[origin]] (sets host, port and the HTTP
  // check; an error when host or port is also given); false after an error.
  bool ParseOriginUrlKey(const toml::table& t, const std::string& prefix, OriginConfig& o);
  // parse_http.cc: the `http` table and `upstream` of an [[origin]], and the
  // keys an http:// origin rejects (sni, profiles, expect_names), whose
  // defaults it then replaces. false after an error.
  bool ParseOriginHttp(const toml::table& t, const std::string& prefix, OriginConfig& o);
  // parse_http.cc: every `upstream` names another configured origin (run once
  // all [[origin]] tables are read).
  void CheckUpstreams(const AgentConfig& cfg);
  void ParseWebhook(const toml::table& t, AgentConfig& cfg);
  // The delivery filters `rules`, `severities` (each one of kSeverities) and
  // `tags` of a [[webhook]] or an [[alertmanager]]; false after an error.
  bool ParseDeliveryFilters(const toml::table& t, const std::string& prefix, std::vector<std::string>* rules,
                            std::vector<std::string>* severities, std::vector<std::string>* tags);
  // [[alertmanager]] (parse_alertmanager.cc).
  void ParseAlertmanager(const toml::table& t, AgentConfig& cfg);

  std::string file_;
  std::filesystem::path dir_;
  std::vector<ConfigError> errors_;
  std::unordered_map<std::string, int> origin_names_;
  std::unordered_map<std::string, int> webhook_names_;
  std::unordered_map<std::string, int> alertmanager_names_;
};

}  // namespace originwatch::config_internal
