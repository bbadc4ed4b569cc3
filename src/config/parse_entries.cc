// The [[origin]] and [[webhook]] tables (see toml_reader.h).
#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/names.h"
#include "config/toml_reader.h"

namespace originwatch::config_internal {

std::string Parser::ReadEntityName(const toml::table& t, std::string_view kind, int line,
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

void Parser::ParseOrigin(const toml::table& t, AgentConfig& cfg) {
  OriginConfig o;
  o.line = static_cast<int>(t.source().begin.line);
  o.column = static_cast<int>(t.source().begin.column);
  std::string where;
  o.name = ReadEntityName(t, "origin", o.line, origin_names_, &where);
  const std::string p = where + ": ";
  bool ok = !o.name.empty();
  CheckKeys(t, kOriginKeys, where);
  // Missing keys are named with the line, as the spec of the message promises.
  const std::string missing = "origin at line " + std::to_string(o.line) + " has no ";

  // `url` names host, port and path at once (parse_http.cc).
  const bool has_url = t.get("url") != nullptr;
  if (has_url && !ParseOriginUrlKey(t, p, o)) ok = false;
  const toml::node* host_node = has_url ? nullptr : t.get("host");
  if (has_url) {
    // host and port come from the url
  } else if (host_node == nullptr) {
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
  if (const toml::node* n = has_url ? nullptr : t.get("port")) {
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

  if (!ParseAddressChoice(t, p, o)) ok = false;

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
          Error(*i.node, p + "unknown profile " + Quoted(i.value) + " " + Suggest(i.value, known));
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

  if (!ParseOriginHttp(t, p, o)) ok = false;

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

bool Parser::ParseAddressChoice(const toml::table& t, const std::string& p, OriginConfig& o) {
  bool ok = true;
  for (auto [key, allowed, field] :
       {std::tuple("addresses", std::span<const std::string_view>(kAddressModes), &o.addresses),
        std::tuple("family", std::span<const std::string_view>(kFamilies), &o.family)}) {
    const toml::node* n = t.get(key);
    if (n == nullptr) continue;
    std::string s;
    if (!ReadString(*n, key, p, &s)) {
      ok = false;
    } else if (!Contains(allowed, s)) {
      Error(*n, p + Quoted(key) + " must be " + QuotedChoices(allowed) + ", not " + Quoted(s));
      ok = false;
    } else if (t.get("connect") != nullptr) {
      // Both choose among the addresses the host's name resolves to; with
      // connect nothing is resolved, so the key would silently do nothing.
      Error(*n, p + Quoted(key) +
                    " cannot be used with \"connect\": it chooses among the addresses of the "
                    "host's name, and \"connect\" lists the addresses to probe instead");
      ok = false;
    } else {
      *field = s;
    }
  }
  // An IP literal host of the other family would leave nothing to probe.
  const bool v6_host = IsIpLiteral(o.host) && o.host.find(':') != std::string::npos;
  const bool v4_host = IsIpLiteral(o.host) && !v6_host;
  if (ok && ((o.family == "ipv6" && v4_host) || (o.family == "ipv4" && v6_host))) {
    Error(*t.get("family"), p + "\"family\" " + Quoted(o.family) +
                                " leaves nothing to probe: host " + Quoted(o.host) + " is an " +
                                (v4_host ? "IPv4" : "IPv6") + " address");
    ok = false;
  }
  return ok;
}

bool Parser::ParseDeliveryFilters(const toml::table& t, const std::string& p, std::vector<std::string>* rules,
                                  std::vector<std::string>* severities, std::vector<std::string>* tags) {
  bool ok = true;
  std::vector<Item> items;
  if (const toml::node* n = t.get("rules")) {
    if (ReadStringList(*n, "rules", p, &items)) {
      *rules = Values(items);
    } else {
      ok = false;
    }
  }
  if (const toml::node* n = t.get("severities")) {
    if (ReadStringList(*n, "severities", p, &items)) {
      for (const Item& i : items) {
        if (!Contains(kSeverities, i.value)) {
          Error(*i.node, p + "unknown severity " + Quoted(i.value) + " " + Suggest(i.value, kSeverities));
          ok = false;
        }
      }
      *severities = Values(items);
    } else {
      ok = false;
    }
  }
  if (const toml::node* n = t.get("tags")) {
    if (ReadStringList(*n, "tags", p, &items)) {
      *tags = Values(items);
    } else {
      ok = false;
    }
  }
  return ok;
}

void Parser::ParseWebhook(const toml::table& t, AgentConfig& cfg) {
  WebhookConfig w;
  w.line = static_cast<int>(t.source().begin.line);
  w.column = static_cast<int>(t.source().begin.column);
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
      w.secret_env_pos = KeyPos(t, "secret_env");
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
      w.secret_file_pos = KeyPos(t, "secret_file");
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
  if (!ParseDeliveryFilters(t, p, &w.rules, &w.severities, &w.tags)) ok = false;
  if (const toml::node* n = t.get("signing")) {
    std::string s;
    if (ReadString(*n, "signing", p, &s) && Contains(kSignings, s)) {
      w.signing = s;
      if (s != "originwatch" && env_node == nullptr && file_node == nullptr) {
        Error(*n, p + "signing " + Quoted(s) + " needs a secret: set \"secret_env\" or \"secret_file\"");
        ok = false;
      }
    } else {
      if (n->is_string()) Error(*n, p + "unknown signing " + Quoted(s) + " " + Suggest(s, kSignings));
      ok = false;
    }
  }
  if (ok) cfg.webhooks.push_back(std::move(w));
}

}  // namespace originwatch::config_internal
