// Parsing and validation of the agent's TOML file (include/originwatch/config.h).
//
// toml++ is used in its no-exceptions mode (TOML_EXCEPTIONS=0, set on the
// target): a syntax error comes back as a value with a position. The distro's
// libtomlplusplus.so (3.3) is built with exceptions and exports only the
// toml::v3::ex:: parse functions, so this file compiles toml++ header-only
// (overriding the TOML_SHARED_LIB=1 / TOML_HEADER_ONLY=0 that the imported CMake
// target adds); it is the only file that includes it, and no public header does.
#undef TOML_SHARED_LIB
#define TOML_SHARED_LIB 0
#undef TOML_HEADER_ONLY
#define TOML_HEADER_ONLY 1
#define TOML_ENABLE_FORMATTERS 0
#include "originwatch/config.h"

#include <fcntl.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/names.h"

#if TOML_EXCEPTIONS
#error "src/config must be compiled with TOML_EXCEPTIONS=0"
#endif

namespace originwatch {

using config_internal::Closest;
using config_internal::IsDnsName;
using config_internal::IsEnvName;
using config_internal::IsHttpUrl;
using config_internal::IsIdentifier;
using config_internal::IsIpLiteral;
using config_internal::Quoted;

std::string ConfigError::ToString() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

const ClientProfile* AgentConfig::FindProfile(std::string_view name) const {
  for (const auto& p : profiles) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const OriginConfig* AgentConfig::FindOrigin(std::string_view name) const {
  for (const auto& o : origins) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

namespace {

constexpr std::string_view kTopKeys[] = {"agent", "profiles", "origin", "webhook", "alerts"};
constexpr std::string_view kAlertKeys[] = {
    "fail_after",          "resolve_after",
    "expiry_warning_days", "expiry_critical_days",
    "lifetime_warning_fraction", "lifetime_critical_fraction",
    "downgrade_accept_after_days"};
constexpr std::string_view kAgentKeys[] = {
    "database",        "interval",       "timeout",   "connect_timeout", "max_in_flight",
    "max_per_address", "engine_threads", "retention", "ca_file",         "log_level",
    "address_retire_after"};
constexpr std::string_view kProfileKeys[] = {
    "min_version", "max_version", "ciphers", "ciphersuites", "groups", "alpn", "description"};
constexpr std::string_view kOriginKeys[] = {"name",    "host",         "port",     "connect",
                                            "sni",     "expect_names", "profiles", "interval",
                                            "timeout", "tags",         "alerts"};
constexpr std::string_view kWebhookKeys[] = {"name",       "url",     "secret_env", "secret_file",
                                             "format",     "timeout", "max_age",    "rules",
                                             "severities", "tags"};
constexpr std::string_view kLogLevels[] = {"debug", "info", "warn", "error"};
constexpr std::string_view kTlsVersions[] = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
constexpr std::string_view kFormats[] = {"json", "slack"};
constexpr std::string_view kSeverities[] = {"info", "warning", "critical"};
constexpr std::string_view kIdentifierRule = "use letters, digits, '.', '_' and '-'";

constexpr int64_t kMaxDurationMs = 3650LL * 86400 * 1000;  // ten years: beyond is a typo

std::string TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

std::string Join(std::span<const std::string_view> words, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += sep;
    out += words[i];
  }
  return out;
}

// "(did you mean "x"?)" when a candidate is close, else "(known: a, b, c)".
std::string Suggest(std::string_view word, std::span<const std::string_view> candidates) {
  std::string_view close = Closest(word, candidates);
  if (!close.empty()) return "(did you mean " + Quoted(close) + "?)";
  return "(known: " + Join(candidates, ", ") + ")";
}

bool Contains(std::span<const std::string_view> set, std::string_view word) {
  return std::find(set.begin(), set.end(), word) != set.end();
}

int VersionRank(std::string_view v) {
  for (size_t i = 0; i < std::size(kTlsVersions); ++i) {
    if (kTlsVersions[i] == v) return static_cast<int>(i);
  }
  return -1;
}

struct Entry {
  const toml::key* key;
  const toml::node* value;
};

// toml::table is ordered by key; messages and profile order follow the file.
std::vector<Entry> InFileOrder(const toml::table& t) {
  std::vector<Entry> out;
  for (auto&& [k, v] : t) out.push_back({&k, &v});
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    const auto& pa = a.key->source().begin;
    const auto& pb = b.key->source().begin;
    return std::pair(pa.line, pa.column) < std::pair(pb.line, pb.column);
  });
  return out;
}

// A string array element with the node it came from (for positions).
struct Item {
  std::string value;
  const toml::node* node;
};

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {
    dir_ = std::filesystem::path(file_).parent_path();
  }

  LoadResult Run(std::string_view text) {
    LoadResult result;
    toml::parse_result parsed = toml::parse(text, file_);
    if (!parsed) {
      const toml::parse_error& e = parsed.error();
      Error(e.source(), std::string(e.description()));
      result.errors = std::move(errors_);
      return result;
    }
    const toml::table& root = parsed.table();
    AgentConfig cfg;
    cfg.source_path = file_;
    cfg.database = ResolvePath(cfg.database);
    cfg.profiles = BuiltinProfiles();

    for (const Entry& e : InFileOrder(root)) {
      std::string_view k = e.key->str();
      if (Contains(kTopKeys, k)) continue;
      if (Contains(kAgentKeys, k) && !e.value->is_table()) {
        Error(e.key->source(),
              "unknown top-level key " + Quoted(k) + " (it belongs under [agent])");
        continue;
      }
      bool table = e.value->is_table() || e.value->is_array_of_tables();
      std::string msg = std::string("unknown top-level ") + (table ? "table " : "key ") + Quoted(k);
      std::string_view close = Closest(k, kTopKeys);
      if (!close.empty()) msg += " (did you mean " + Quoted(close) + "?)";
      Error(e.key->source(), msg);
    }

    if (const toml::node* n = root.get("agent")) {
      if (const toml::table* t = n->as_table()) {
        ParseAgent(*t, cfg);
      } else {
        Error(*n, "\"agent\" must be a table ([agent]), not " + TypeName(*n));
      }
    }
    if (const toml::node* n = root.get("profiles")) {
      if (const toml::table* t = n->as_table()) {
        ParseProfiles(*t, cfg);
      } else {
        Error(*n, "\"profiles\" must be a table of tables ([profiles.NAME]), not " + TypeName(*n));
      }
    }
    if (const toml::node* n = root.get("alerts")) {
      if (const toml::table* t = n->as_table()) {
        ParseAlerts(*t, "[alerts]", &cfg.alerts);
      } else {
        Error(*n, "\"alerts\" must be a table ([alerts]), not " + TypeName(*n));
      }
    }
    ForEachArrayTable(root, "origin", /*required=*/true,
                      [&](const toml::table& t) { ParseOrigin(t, cfg); });
    ForEachArrayTable(root, "webhook", /*required=*/false,
                      [&](const toml::table& t) { ParseWebhook(t, cfg); });

    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const ConfigError& a, const ConfigError& b) {
                       return std::tuple(a.line == 0, a.line, a.column) <
                              std::tuple(b.line == 0, b.line, b.column);
                     });
    if (errors_.empty()) {
      result.config = std::move(cfg);
    } else {
      result.errors = std::move(errors_);
    }
    return result;
  }

 private:
  void Error(const toml::source_region& where, std::string message) {
    errors_.push_back({file_, static_cast<int>(where.begin.line),
                       static_cast<int>(where.begin.column), std::move(message)});
  }
  void Error(const toml::node& n, std::string message) { Error(n.source(), std::move(message)); }
  void ErrorWithoutPosition(std::string message) {
    errors_.push_back({file_, 0, 0, std::move(message)});
  }

  std::string ResolvePath(const std::string& p) const {
    if (p == ":memory:" || dir_.empty()) return p;
    std::filesystem::path path(p);
    if (path.is_absolute()) return p;
    return (dir_ / path).string();
  }

  // Unknown keys of t, with a did-you-mean among allowed. where: "[agent]",
  // "origin \"promo\"", ...
  void CheckKeys(const toml::table& t, std::span<const std::string_view> allowed,
                 const std::string& where) {
    for (const Entry& e : InFileOrder(t)) {
      std::string_view k = e.key->str();
      if (Contains(allowed, k)) continue;
      std::string msg = "unknown key " + Quoted(k) + " in " + where;
      std::string_view close = Closest(k, allowed);
      if (!close.empty()) msg += " (did you mean " + Quoted(close) + "?)";
      Error(e.key->source(), msg);
    }
  }

  // [[name]] tables; anything else under that key is an error.
  template <typename Fn>
  void ForEachArrayTable(const toml::table& root, std::string_view name, bool required, Fn fn) {
    const toml::node* n = root.get(name);
    const std::string quoted = Quoted(name);
    const std::string header = "[[" + std::string(name) + "]]";
    if (n == nullptr) {
      if (required) ErrorWithoutPosition("no " + header + " defined");
      return;
    }
    if (const toml::array* a = n->as_array()) {
      if (a->empty() && required) Error(*n, "no " + header + " defined");
      for (const toml::node& elem : *a) {
        if (const toml::table* t = elem.as_table()) {
          fn(*t);
        } else {
          Error(elem, "each " + quoted + " entry must be a table (" + header + "), not " +
                          TypeName(elem));
        }
      }
    } else if (n->is_table()) {
      Error(*n, quoted + " must be an array of tables: write " + header + ", not [" +
                    std::string(name) + "]");
    } else {
      Error(*n, quoted + " must be an array of tables (" + header + "), not " + TypeName(*n));
    }
  }

  bool ReadString(const toml::node& n, std::string_view key, const std::string& prefix,
                  std::string* out) {
    if (const auto* s = n.as_string()) {
      *out = s->get();
      return true;
    }
    Error(n, prefix + Quoted(key) + " must be a string, not " + TypeName(n));
    return false;
  }

  bool ReadNonEmptyString(const toml::node& n, std::string_view key, const std::string& prefix,
                          std::string* out) {
    if (!ReadString(n, key, prefix, out)) return false;
    if (out->empty()) {
      Error(n, prefix + Quoted(key) + " must not be empty");
      return false;
    }
    return true;
  }

  bool ReadInt(const toml::node& n, std::string_view key, const std::string& prefix, int64_t lo,
               int64_t hi, int64_t* out) {
    const auto* i = n.as_integer();
    if (i == nullptr) {
      Error(n, prefix + Quoted(key) + " must be an integer, not " + TypeName(n));
      return false;
    }
    int64_t v = i->get();
    if (v < lo || v > hi) {
      Error(n, prefix + Quoted(key) + " must be between " + std::to_string(lo) + " and " +
                   std::to_string(hi) + ", not " + std::to_string(v));
      return false;
    }
    *out = v;
    return true;
  }

  // A duration string, or an integer number of seconds; positive, at most ten years.
  bool ReadDuration(const toml::node& n, std::string_view key, const std::string& prefix,
                    int64_t* out) {
    int64_t ms = 0;
    std::string shown;
    if (const auto* i = n.as_integer()) {
      int64_t secs = i->get();
      shown = std::to_string(secs);
      if (secs <= 0) {
        Error(n, prefix + Quoted(key) + " must be positive, not " + shown);
        return false;
      }
      if (secs > kMaxDurationMs / 1000) {
        Error(n, prefix + Quoted(key) + " must be at most " + FormatDurationMs(kMaxDurationMs) +
                     ", not " + shown + " seconds");
        return false;
      }
      ms = secs * 1000;
    } else if (const auto* s = n.as_string()) {
      const std::string& text = s->get();
      shown = Quoted(text);
      std::optional<int64_t> parsed = ParseDurationMs(text);
      if (!parsed) {
        if (!text.empty() && text.front() == '-' && ParseDurationMs(text.substr(1))) {
          Error(n, prefix + Quoted(key) + " must be positive, not " + shown);
        } else {
          Error(n, prefix + "bad duration " + shown + " for " + Quoted(key) +
                       ": use a number with a unit, like \"90s\", \"5m\", \"14d\"");
        }
        return false;
      }
      if (*parsed == 0) {
        Error(n, prefix + Quoted(key) + " must be positive, not " + shown);
        return false;
      }
      if (*parsed > kMaxDurationMs) {
        Error(n, prefix + Quoted(key) + " must be at most " + FormatDurationMs(kMaxDurationMs) +
                     ", not " + shown);
        return false;
      }
      ms = *parsed;
    } else {
      Error(n, prefix + Quoted(key) +
                   " must be a duration like \"90s\" or a number of seconds, not " + TypeName(n));
      return false;
    }
    *out = ms;
    return true;
  }

  // An array of strings; false (with errors at the offending elements) otherwise.
  bool ReadStringList(const toml::node& n, std::string_view key, const std::string& prefix,
                      std::vector<Item>* out) {
    const toml::array* a = n.as_array();
    if (a == nullptr) {
      Error(n, prefix + Quoted(key) + " must be an array of strings, not " + TypeName(n));
      return false;
    }
    bool ok = true;
    out->clear();
    for (size_t i = 0; i < a->size(); ++i) {
      const toml::node& elem = *a->get(i);
      if (const auto* s = elem.as_string()) {
        out->push_back({s->get(), &elem});
      } else {
        Error(elem, prefix + Quoted(key) + " must be an array of strings, but element " +
                        std::to_string(i + 1) + " is " + TypeName(elem));
        ok = false;
      }
    }
    return ok;
  }

  static std::vector<std::string> Values(const std::vector<Item>& items) {
    std::vector<std::string> out;
    out.reserve(items.size());
    for (const Item& i : items) out.push_back(i.value);
    return out;
  }

  bool ReadFraction(const toml::node& n, std::string_view key, const std::string& prefix,
                    double* out) {
    double v;
    if (const auto* f = n.as_floating_point()) {
      v = f->get();
    } else if (const auto* i = n.as_integer()) {
      v = static_cast<double>(i->get());
    } else {
      Error(n, prefix + Quoted(key) + " must be a number, not " + TypeName(n));
      return false;
    }
    if (!(v > 0.0 && v < 1.0)) {
      Error(n, prefix + Quoted(key) + " must be a fraction between 0 and 1 (exclusive), like 0.33");
      return false;
    }
    *out = v;
    return true;
  }

  // [alerts] or [origin.alerts]: thresholds, all optional.
  void ParseAlerts(const toml::table& t, const std::string& where, AlertSettings* a) {
    CheckKeys(t, kAlertKeys, where);
    const std::string p = where == "[alerts]" ? "" : where + ": ";
    int64_t v = 0;
    double f = 0;
    auto read_int = [&](const char* key, int64_t lo, int64_t hi, std::optional<int>* out) {
      if (const toml::node* n = t.get(key)) {
        if (ReadInt(*n, key, p, lo, hi, &v)) *out = static_cast<int>(v);
      }
    };
    read_int("fail_after", 1, 1000, &a->fail_after);
    read_int("resolve_after", 1, 1000, &a->resolve_after);
    read_int("expiry_warning_days", 0, 3650, &a->expiry_warning_days);
    read_int("expiry_critical_days", 0, 3650, &a->expiry_critical_days);
    read_int("downgrade_accept_after_days", 0, 3650, &a->downgrade_accept_after_days);
    if (const toml::node* n = t.get("lifetime_warning_fraction")) {
      if (ReadFraction(*n, "lifetime_warning_fraction", p, &f)) a->lifetime_warning_fraction = f;
    }
    if (const toml::node* n = t.get("lifetime_critical_fraction")) {
      if (ReadFraction(*n, "lifetime_critical_fraction", p, &f)) a->lifetime_critical_fraction = f;
    }
    if (a->expiry_warning_days && a->expiry_critical_days &&
        *a->expiry_critical_days > *a->expiry_warning_days) {
      Error(*t.get("expiry_critical_days"),
            p + "\"expiry_critical_days\" (" + std::to_string(*a->expiry_critical_days) +
                ") must not be more than \"expiry_warning_days\" (" +
                std::to_string(*a->expiry_warning_days) + ")");
    }
    if (a->lifetime_warning_fraction && a->lifetime_critical_fraction &&
        *a->lifetime_critical_fraction > *a->lifetime_warning_fraction) {
      Error(*t.get("lifetime_critical_fraction"),
            p + "\"lifetime_critical_fraction\" must not be more than \"lifetime_warning_fraction\"");
    }
  }

  void ParseAgent(const toml::table& t, AgentConfig& cfg) {
    const std::string p;  // agent messages carry no prefix
    CheckKeys(t, kAgentKeys, "[agent]");
    std::string s;
    int64_t v = 0;
    if (const toml::node* n = t.get("database")) {
      if (ReadNonEmptyString(*n, "database", p, &s)) cfg.database = ResolvePath(s);
    }
    if (const toml::node* n = t.get("interval")) {
      if (ReadDuration(*n, "interval", p, &v)) cfg.interval_ms = v;
    }
    bool timeout_ok = true;
    if (const toml::node* n = t.get("timeout")) {
      timeout_ok = ReadDuration(*n, "timeout", p, &v);
      if (timeout_ok) cfg.timeout_ms = v;
    }
    cfg.connect_timeout_ms = std::min<int64_t>(5000, cfg.timeout_ms);
    if (const toml::node* n = t.get("connect_timeout")) {
      if (ReadDuration(*n, "connect_timeout", p, &v)) {
        if (timeout_ok && v > cfg.timeout_ms) {
          Error(*n, "\"connect_timeout\" (" + FormatDurationMs(v) +
                        ") must not be longer than \"timeout\" (" +
                        FormatDurationMs(cfg.timeout_ms) + ")");
        } else {
          cfg.connect_timeout_ms = v;
        }
      }
    }
    if (const toml::node* n = t.get("address_retire_after")) {
      if (ReadDuration(*n, "address_retire_after", p, &v)) cfg.address_retire_after_ms = v;
    }
    if (const toml::node* n = t.get("retention")) {
      if (ReadDuration(*n, "retention", p, &v)) cfg.retention_ms = v;
    }
    if (const toml::node* n = t.get("max_in_flight")) {
      if (ReadInt(*n, "max_in_flight", p, 1, 100000, &v)) cfg.max_in_flight = static_cast<int>(v);
    }
    if (const toml::node* n = t.get("max_per_address")) {
      if (ReadInt(*n, "max_per_address", p, 1, 100000, &v)) {
        cfg.max_per_address = static_cast<int>(v);
      }
    }
    if (const toml::node* n = t.get("engine_threads")) {
      if (ReadInt(*n, "engine_threads", p, 1, 64, &v)) cfg.engine_threads = static_cast<int>(v);
    }
    if (const toml::node* n = t.get("ca_file")) {
      if (ReadNonEmptyString(*n, "ca_file", p, &s)) cfg.ca_file = ResolvePath(s);
    }
    if (const toml::node* n = t.get("log_level")) {
      if (ReadString(*n, "log_level", p, &s)) {
        if (Contains(kLogLevels, s)) {
          cfg.log_level = s;
        } else {
          Error(*n, "unknown log_level " + Quoted(s) + " " + Suggest(s, kLogLevels));
        }
      }
    }
  }

  void ParseProfiles(const toml::table& profiles, AgentConfig& cfg) {
    for (const Entry& e : InFileOrder(profiles)) {
      const std::string name(e.key->str());
      bool name_ok = IsIdentifier(name);
      if (!name_ok) {
        Error(e.key->source(),
              "invalid profile name " + Quoted(name) + ": " + std::string(kIdentifierRule));
      }
      const toml::table* t = e.value->as_table();
      if (t == nullptr) {
        Error(*e.value, "profile " + Quoted(name) + " must be a table ([profiles." + name +
                            "]), not " + TypeName(*e.value));
        continue;
      }
      const std::string where = "profile " + Quoted(name);
      const std::string p = where + ": ";
      CheckKeys(*t, kProfileKeys, where);

      ClientProfile profile;
      profile.name = name;
      if (const ClientProfile* builtin = FindBuiltinProfile(name)) profile = *builtin;
      bool ok = name_ok;
      std::string s;
      const toml::node* min_node = t->get("min_version");
      const toml::node* max_node = t->get("max_version");
      for (auto [key, node, field] : {std::tuple("min_version", min_node, &profile.min_version),
                                      std::tuple("max_version", max_node, &profile.max_version)}) {
        if (node == nullptr) continue;
        if (!ReadString(*node, key, p, &s)) {
          ok = false;
        } else if (VersionRank(s) < 0) {
          Error(*node, p + "invalid TLS version " + Quoted(s) + " for " + Quoted(key) +
                           ": use TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3");
          ok = false;
        } else {
          *field = s;
        }
      }
      if (ok && !profile.min_version.empty() && !profile.max_version.empty() &&
          VersionRank(profile.min_version) > VersionRank(profile.max_version)) {
        Error(max_node != nullptr ? *max_node : *min_node,
              p + "min_version " + profile.min_version + " is above max_version " +
                  profile.max_version);
        ok = false;
      }
      for (auto [key, field] :
           {std::pair("ciphers", &profile.ciphers),
            std::pair("ciphersuites", &profile.ciphersuites), std::pair("groups", &profile.groups),
            std::pair("description", &profile.description)}) {
        const toml::node* n = t->get(key);
        if (n == nullptr) continue;
        if (ReadString(*n, key, p, &s)) {
          *field = s;
        } else {
          ok = false;
        }
      }
      if (const toml::node* n = t->get("alpn")) {
        std::vector<Item> items;
        if (ReadStringList(*n, "alpn", p, &items)) {
          for (const Item& i : items) {
            bool printable = !i.value.empty() && i.value.size() <= 255 &&
                             std::all_of(i.value.begin(), i.value.end(),
                                         [](char c) { return c > 0x20 && c < 0x7f; });
            if (!printable) {
              Error(*i.node, p + "bad alpn entry " + Quoted(i.value) +
                                 ": use 1 to 255 printable ASCII characters without spaces, "
                                 "like \"h2\" or \"http/1.1\"");
              ok = false;
            }
          }
          profile.alpn = Values(items);
        } else {
          ok = false;
        }
      }
      if (!ok) continue;
      auto existing = std::find_if(cfg.profiles.begin(), cfg.profiles.end(),
                                   [&](const ClientProfile& c) { return c.name == name; });
      if (existing != cfg.profiles.end()) {
        *existing = std::move(profile);
      } else {
        cfg.profiles.push_back(std::move(profile));
      }
    }
  }

  // The name of an [[origin]] or [[webhook]]: sets *prefix / *where for later
  // messages, checks syntax and uniqueness. Returns the name ("" when bad).
  std::string ReadEntityName(const toml::table& t, std::string_view kind, int line,
                             std::unordered_map<std::string, int>& seen, std::string* where) {
    *where = std::string(kind) + " at line " + std::to_string(line);
    const toml::node* n = t.get("name");
    if (n == nullptr) {
      Error(t, *where + " has no \"name\"");
      return "";
    }
    std::string name;
    if (!ReadString(*n, "name", *where + ": ", &name)) return "";
    if (!IsIdentifier(name)) {
      Error(*n, "invalid " + std::string(kind) + " name " + Quoted(name) + ": " +
                    std::string(kIdentifierRule));
      return "";
    }
    *where = std::string(kind) + " " + Quoted(name);
    int name_line = static_cast<int>(n->source().begin.line);
    auto [it, inserted] = seen.emplace(name, name_line);
    if (!inserted) {
      Error(*n, "duplicate " + std::string(kind) + " name " + Quoted(name) +
                    " (first defined at line " + std::to_string(it->second) + ")");
      return "";
    }
    return name;
  }

  void ParseOrigin(const toml::table& t, AgentConfig& cfg) {
    OriginConfig o;
    o.line = static_cast<int>(t.source().begin.line);
    std::string where;
    o.name = ReadEntityName(t, "origin", o.line, origin_names_, &where);
    const std::string p = where + ": ";
    bool ok = !o.name.empty();
    CheckKeys(t, kOriginKeys, where);
    // Missing keys are named with the line, as the spec of the message promises.
    const std::string missing = "origin at line " + std::to_string(o.line) + " has no ";

    const toml::node* host_node = t.get("host");
    if (host_node == nullptr) {
      Error(t, missing + "\"host\"");
      ok = false;
    } else if (ReadNonEmptyString(*host_node, "host", p, &o.host)) {
      if (!IsDnsName(o.host) && !IsIpLiteral(o.host)) {
        std::string hint;
        if (o.host.find("://") != std::string::npos) {
          hint = " (give the name only, not a URL)";
        } else if (o.host.find(':') != std::string::npos) {
          hint = " (put the port in \"port\")";
        }
        Error(*host_node,
              p + "invalid host " + Quoted(o.host) + ": not a DNS name or an IP address" + hint);
        ok = false;
      }
    } else {
      ok = false;
    }
    const bool host_is_name = ok && IsDnsName(o.host);

    int64_t v = 0;
    if (const toml::node* n = t.get("port")) {
      if (ReadInt(*n, "port", p, 1, 65535, &v)) {
        o.port = static_cast<uint16_t>(v);
      } else {
        ok = false;
      }
    }

    std::vector<Item> items;
    if (const toml::node* n = t.get("connect")) {
      if (ReadStringList(*n, "connect", p, &items)) {
        if (items.empty()) {
          Error(*n, p + "\"connect\" must not be empty (leave it out to resolve the host)");
          ok = false;
        }
        for (const Item& i : items) {
          if (!IsIpLiteral(i.value)) {
            Error(*i.node, p + "invalid connect address " + Quoted(i.value) +
                               ": must be an IPv4 or IPv6 address");
            ok = false;
          }
        }
        o.connect = Values(items);
      } else {
        ok = false;
      }
    }

    if (const toml::node* n = t.get("sni")) {
      if (ReadStringList(*n, "sni", p, &items)) {
        if (items.empty()) {
          Error(*n, p + "\"sni\" must not be empty (use [\"none\"] to probe without SNI)");
          ok = false;
        }
        for (const Item& i : items) {
          if (i.value == "none") {
            o.sni.push_back(std::nullopt);
          } else if (IsIpLiteral(i.value)) {
            Error(*i.node, p + "invalid sni " + Quoted(i.value) +
                               ": an IP address cannot be sent as SNI (use \"none\")");
            ok = false;
          } else if (!IsDnsName(i.value)) {
            Error(*i.node, p + "invalid sni " + Quoted(i.value) +
                               ": not a DNS name (or \"none\" to probe without SNI)");
            ok = false;
          } else {
            o.sni.push_back(i.value);
          }
        }
      } else {
        ok = false;
      }
    } else if (ok) {
      if (host_is_name) {
        o.sni.push_back(o.host);
      } else {
        o.sni.push_back(std::nullopt);
      }
    }

    if (const toml::node* n = t.get("expect_names")) {
      if (ReadStringList(*n, "expect_names", p, &items)) {
        for (const Item& i : items) {
          if (!IsDnsName(i.value) && !IsIpLiteral(i.value)) {
            Error(*i.node, p + "invalid expect_names entry " + Quoted(i.value) +
                               ": not a DNS name or an IP address");
            ok = false;
          }
        }
        o.expect_names = Values(items);
      } else {
        ok = false;
      }
    } else if (host_is_name) {
      o.expect_names.push_back(o.host);
    }

    if (const toml::node* n = t.get("profiles")) {
      if (ReadStringList(*n, "profiles", p, &items)) {
        if (items.empty()) {
          Error(*n, p + "\"profiles\" must not be empty");
          ok = false;
        }
        for (const Item& i : items) {
          if (cfg.FindProfile(i.value) == nullptr) {
            std::vector<std::string_view> known;
            for (const auto& prof : cfg.profiles) known.push_back(prof.name);
            std::sort(known.begin(), known.end());
            Error(*i.node,
                  p + "unknown profile " + Quoted(i.value) + " " + Suggest(i.value, known));
            ok = false;
          }
        }
        o.profiles = Values(items);
      } else {
        ok = false;
      }
    } else {
      o.profiles = {"modern"};
    }

    if (const toml::node* n = t.get("tags")) {
      if (ReadStringList(*n, "tags", p, &items)) {
        o.tags = Values(items);
      } else {
        ok = false;
      }
    }

    if (const toml::node* n = t.get("alerts")) {
      if (const toml::table* at = n->as_table()) {
        size_t before = errors_.size();
        ParseAlerts(*at, where + " [alerts]", &o.alerts);
        ok = ok && errors_.size() == before;
      } else {
        Error(*n, p + "\"alerts\" must be a table ([origin.alerts]), not " + TypeName(*n));
        ok = false;
      }
    }

    o.interval_ms = cfg.interval_ms;
    if (const toml::node* n = t.get("interval")) {
      if (ReadDuration(*n, "interval", p, &v)) {
        o.interval_ms = v;
      } else {
        ok = false;
      }
    }
    o.timeout_ms = cfg.timeout_ms;
    if (const toml::node* n = t.get("timeout")) {
      if (ReadDuration(*n, "timeout", p, &v)) {
        o.timeout_ms = v;
      } else {
        ok = false;
      }
    }
    o.connect_timeout_ms = std::min(cfg.connect_timeout_ms, o.timeout_ms);
    if (ok) cfg.origins.push_back(std::move(o));
  }

  void ParseWebhook(const toml::table& t, AgentConfig& cfg) {
    WebhookConfig w;
    w.line = static_cast<int>(t.source().begin.line);
    std::string where;
    w.name = ReadEntityName(t, "webhook", w.line, webhook_names_, &where);
    const std::string p = where + ": ";
    bool ok = !w.name.empty();
    CheckKeys(t, kWebhookKeys, where);

    const toml::node* url_node = t.get("url");
    if (url_node == nullptr) {
      Error(t, "webhook at line " + std::to_string(w.line) + " has no \"url\"");
      ok = false;
    } else if (ReadString(*url_node, "url", p, &w.url)) {
      if (!IsHttpUrl(w.url)) {
        Error(*url_node, p + "bad url " + Quoted(w.url) +
                             ": use an http:// or https:// URL with a host, like "
                             "\"https://hooks.example.com/tls\"");
        ok = false;
      }
    } else {
      ok = false;
    }

    const toml::node* env_node = t.get("secret_env");
    const toml::node* file_node = t.get("secret_file");
    if (env_node != nullptr) {
      if (ReadString(*env_node, "secret_env", p, &w.secret_env)) {
        if (!IsEnvName(w.secret_env)) {
          Error(*env_node, p + "invalid environment variable name " + Quoted(w.secret_env) +
                               " for \"secret_env\"");
          ok = false;
        }
      } else {
        ok = false;
      }
    }
    if (file_node != nullptr) {
      std::string s;
      if (ReadNonEmptyString(*file_node, "secret_file", p, &s)) {
        w.secret_file = ResolvePath(s);
      } else {
        ok = false;
      }
    }
    if (env_node != nullptr && file_node != nullptr) {
      const toml::node* later = env_node;
      const auto& a = env_node->source().begin;
      const auto& b = file_node->source().begin;
      if (std::pair(b.line, b.column) > std::pair(a.line, a.column)) later = file_node;
      Error(*later, p + "set \"secret_env\" or \"secret_file\", not both");
      ok = false;
    }

    if (const toml::node* n = t.get("format")) {
      std::string s;
      if (ReadString(*n, "format", p, &s)) {
        if (Contains(kFormats, s)) {
          w.format = s;
        } else {
          Error(*n, p + "unknown format " + Quoted(s) + " " + Suggest(s, kFormats));
          ok = false;
        }
      } else {
        ok = false;
      }
    }
    int64_t v = 0;
    if (const toml::node* n = t.get("timeout")) {
      if (ReadDuration(*n, "timeout", p, &v)) {
        w.timeout_ms = v;
      } else {
        ok = false;
      }
    }
    if (const toml::node* n = t.get("max_age")) {
      if (ReadDuration(*n, "max_age", p, &v)) {
        w.max_age_ms = v;
      } else {
        ok = false;
      }
    }
    std::vector<Item> items;
    if (const toml::node* n = t.get("rules")) {
      if (ReadStringList(*n, "rules", p, &items)) {
        w.rules = Values(items);
      } else {
        ok = false;
      }
    }
    if (const toml::node* n = t.get("severities")) {
      if (ReadStringList(*n, "severities", p, &items)) {
        for (const Item& i : items) {
          if (!Contains(kSeverities, i.value)) {
            Error(*i.node,
                  p + "unknown severity " + Quoted(i.value) + " " + Suggest(i.value, kSeverities));
            ok = false;
          }
        }
        w.severities = Values(items);
      } else {
        ok = false;
      }
    }
    if (const toml::node* n = t.get("tags")) {
      if (ReadStringList(*n, "tags", p, &items)) {
        w.tags = Values(items);
      } else {
        ok = false;
      }
    }
    if (ok) cfg.webhooks.push_back(std::move(w));
  }

  std::string file_;
  std::filesystem::path dir_;
  std::vector<ConfigError> errors_;
  std::unordered_map<std::string, int> origin_names_;
  std::unordered_map<std::string, int> webhook_names_;
};

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

LoadResult ParseConfig(std::string_view text, const std::string& source_path) {
  return Parser(source_path).Run(text);
}

LoadResult LoadConfigFile(const std::string& path) {
  auto unreadable = [&](int err) {
    LoadResult r;
    r.errors.push_back({path, 0, 0, "cannot read " + Quoted(path) + ": " + std::strerror(err)});
    return r;
  };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return unreadable(errno);
  std::string text;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return unreadable(errno);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  return ParseConfig(text, path);
}

}  // namespace originwatch
