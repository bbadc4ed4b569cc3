// The whole-file pass and the [agent], [profiles.NAME] and [alerts] tables
// (see toml_reader.h).
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "config/bounds.h"
#include "config/names.h"
#include "config/toml_reader.h"

namespace originwatch {
namespace config_internal {

template <typename Fn>
void Parser::ForEachArrayTable(const toml::table& root, std::string_view name, bool required,
                               Fn fn) {
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
        Error(elem,
              "each " + quoted + " entry must be a table (" + header + "), not " + TypeName(elem));
      }
    }
  } else if (n->is_table()) {
    Error(*n, quoted + " must be an array of tables: write " + header + ", not [" +
                  std::string(name) + "]");
  } else {
    Error(*n, quoted + " must be an array of tables (" + header + "), not " + TypeName(*n));
  }
}

LoadResult Parser::Run(std::string_view text) {
  LoadResult result;
  // The limits first: a hostile file (a million-part key) overflows the
  // stack inside toml::parse (bounds.h).
  if (std::optional<ConfigError> e = CheckConfigBounds(text, file_)) {
    result.errors.push_back(std::move(*e));
    return result;
  }
  toml::parse_result parsed = toml::parse(text, file_);
  if (!parsed) {
    const toml::parse_error& e = parsed.error();
    Error(e.source(), SafeMessage(e.description()));
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
      Error(e.key->source(), "unknown top-level key " + Quoted(k) + " (it belongs under [agent])");
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
  CheckUpstreams(cfg);
  ForEachArrayTable(root, "webhook", /*required=*/false,
                    [&](const toml::table& t) { ParseWebhook(t, cfg); });
  ForEachArrayTable(root, "alertmanager", /*required=*/false,
                    [&](const toml::table& t) { ParseAlertmanager(t, cfg); });

  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::tuple(a.line == 0, a.line, a.column) < std::tuple(b.line == 0, b.line, b.column);
  });
  if (errors_.empty()) {
    result.config = std::move(cfg);
  } else {
    result.errors = std::move(errors_);
  }
  return result;
}

void Parser::ParseAlerts(const toml::table& t, const std::string& where, AlertSettings* a) {
  CheckKeys(t, kAlertKeys, where);
  a->pos = PosOf(t.source());
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
    Error(*t.get("expiry_critical_days"), p + "\"expiry_critical_days\" (" +
                                              std::to_string(*a->expiry_critical_days) +
                                              ") must not be more than \"expiry_warning_days\" (" +
                                              std::to_string(*a->expiry_warning_days) + ")");
  }
  if (a->lifetime_warning_fraction && a->lifetime_critical_fraction &&
      *a->lifetime_critical_fraction > *a->lifetime_warning_fraction) {
    Error(*t.get("lifetime_critical_fraction"),
          p + "\"lifetime_critical_fraction\" must not be more than \"lifetime_warning_fraction\"");
  }
}

void Parser::ParseAgent(const toml::table& t, AgentConfig& cfg) {
  const std::string p;  // agent messages carry no prefix
  CheckKeys(t, kAgentKeys, "[agent]");
  std::string s;
  int64_t v = 0;
  if (const toml::node* n = t.get("database")) {
    if (ReadNonEmptyString(*n, "database", p, &s)) {
      cfg.database = ResolvePath(s);
      cfg.database_pos = KeyPos(t, "database");
    }
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
                      ") must not be longer than \"timeout\" (" + FormatDurationMs(cfg.timeout_ms) +
                      ")");
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
    if (ReadNonEmptyString(*n, "ca_file", p, &s)) {
      cfg.ca_file = ResolvePath(s);
      cfg.ca_file_pos = KeyPos(t, "ca_file");
    }
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
  ParseDns(t, cfg);
  // The HTTP endpoint (docs/config.md, docs/metrics.md).
  if (const toml::node* n = t.get("listen")) {
    if (ReadString(*n, "listen", p, &s)) {
      std::string host, why;
      uint16_t port = 0;
      std::string probe = s;  // "{shard}" is the agent's to substitute: any shard number must fit
      for (size_t at; (at = probe.find("{shard}")) != std::string::npos;) probe.replace(at, 7, "1");
      if (ParseListenAddress(probe, &host, &port, &why)) {
        cfg.listen = s;
        cfg.listen_pos = KeyPos(t, "listen");
      } else {
        Error(*n, "invalid listen " + Quoted(s) + ": " + why);
      }
    }
  }
  for (const char* key : {"metrics_per_variant", "enable_reload"}) {
    if (const toml::node* n = t.get(key)) {
      if (const auto* b = n->as_boolean()) {
        (std::string_view(key) == "enable_reload" ? cfg.enable_reload : cfg.metrics_per_variant) = b->get();
      } else {
        Error(*n, "\"" + std::string(key) + "\" must be true or false, not " + TypeName(*n));
      }
    }
  }
}

void Parser::ParseDns(const toml::table& t, AgentConfig& cfg) {
  const std::string p;
  if (const toml::node* n = t.get("resolvers")) {
    // Every element is checked, also when another is not a string.
    std::vector<Item> items;
    bool list_ok = ReadStringList(*n, "resolvers", p, &items);
    if (n->is_array()) {
      if (n->as_array()->empty()) {
        Error(*n,
              "\"resolvers\" must not be empty (leave it out to use the system's resolver "
              "configuration)");
        list_ok = false;
      }
      for (const Item& i : items) {
        if (IsDnsServer(i.value)) continue;
        const std::string_view host = std::string_view(i.value).substr(0, i.value.find(':'));
        if (IsDnsName(host)) {
          Error(*i.node, "invalid resolver " + Quoted(i.value) +
                             ": a resolver must be an IP address, not a name (like "
                             "\"127.0.0.1:53\" or \"[::1]:5353\")");
        } else {
          Error(*i.node, "invalid resolver " + Quoted(i.value) +
                             ": use an IPv4 address or a bracketed IPv6 address with an optional "
                             ":port of 1 to 65535, like \"127.0.0.1:53\" or \"[::1]:5353\"");
        }
        list_ok = false;
      }
    }
    if (list_ok) cfg.resolvers = Values(items);
  }
  // The bounds are checked against each other only when both read well; a
  // bound left out is its default.
  int64_t v = 0;
  const toml::node* min_node = t.get("dns_min_ttl");
  const toml::node* max_node = t.get("dns_max_ttl");
  bool ok = true;
  if (min_node != nullptr) {
    ok = ReadDuration(*min_node, "dns_min_ttl", p, &v);
    if (ok) cfg.dns_min_ttl_ms = v;
  }
  if (max_node != nullptr) {
    const bool max_ok = ReadDuration(*max_node, "dns_max_ttl", p, &v);
    if (max_ok) cfg.dns_max_ttl_ms = v;
    ok = ok && max_ok;
  }
  if (!ok || cfg.dns_min_ttl_ms <= cfg.dns_max_ttl_ms) return;
  const std::string min_text = FormatDurationMs(cfg.dns_min_ttl_ms);
  const std::string max_text = FormatDurationMs(cfg.dns_max_ttl_ms);
  // Point at the bound the file sets (the later one when it sets both).
  bool at_max = min_node == nullptr;
  if (min_node != nullptr && max_node != nullptr) {
    const auto& a = min_node->source().begin;
    const auto& b = max_node->source().begin;
    at_max = std::pair(b.line, b.column) > std::pair(a.line, a.column);
  }
  if (at_max) {
    Error(*max_node, "\"dns_max_ttl\" (" + max_text +
                         ") must not be shorter than \"dns_min_ttl\" (" + min_text +
                         (min_node == nullptr ? ", its default" : "") + ")");
  } else {
    Error(*min_node, "\"dns_min_ttl\" (" + min_text +
                         ") must not be longer than \"dns_max_ttl\" (" + max_text +
                         (max_node == nullptr ? ", its default" : "") + ")");
  }
}

void Parser::ParseProfiles(const toml::table& profiles, AgentConfig& cfg) {
  for (const Entry& e : InFileOrder(profiles)) {
    const std::string name(e.key->str());
    bool name_ok = IsIdentifier(name);
    if (!name_ok) {
      Error(e.key->source(),
            "invalid profile name " + Quoted(name) + ": " + std::string(kIdentifierRule));
    }
    const toml::table* t = e.value->as_table();
    if (t == nullptr) {
      // The name itself only once, quoted (and so cut short and escaped).
      Error(*e.value, "profile " + Quoted(name) + " must be a table ([profiles." +
                          (name_ok && name.size() <= kQuotedLimit ? name : std::string("NAME")) +
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
      Error(max_node != nullptr ? *max_node : *min_node, p + "min_version " + profile.min_version +
                                                             " is above max_version " +
                                                             profile.max_version);
      ok = false;
    }
    for (auto [key, field] :
         {std::pair("ciphers", &profile.ciphers), std::pair("ciphersuites", &profile.ciphersuites),
          std::pair("groups", &profile.groups), std::pair("description", &profile.description)}) {
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
    ProfileSource source;
    source.name = name;
    source.table = PosOf(t->source());
    for (auto&& [k, v] : *t) source.keys[std::string(k.str())] = PosOf(k.source());
    cfg.profile_sources.push_back(std::move(source));
  }
}

}  // namespace config_internal

LoadResult ParseConfig(std::string_view text, const std::string& source_path) {
  return config_internal::Parser(source_path).Run(text);
}

}  // namespace originwatch
