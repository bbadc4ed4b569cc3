// The [[alertmanager]] tables (see toml_reader.h, docs/config.md).
#include <string>
#include <utility>
#include <vector>

#include "config/names.h"
#include "config/toml_reader.h"

namespace originwatch::config_internal {

void Parser::ParseAlertmanager(const toml::table& t, AgentConfig& cfg) {
  AlertmanagerConfig a;
  a.line = static_cast<int>(t.source().begin.line);
  a.column = static_cast<int>(t.source().begin.column);
  std::string where = "alertmanager at line " + std::to_string(a.line);
  bool ok = true;
  // The name is optional ("alertmanager"): most agents post to one cluster.
  int name_line = a.line;
  const toml::node* name_node = t.get("name");
  if (name_node != nullptr) {
    std::string name;
    if (!ReadString(*name_node, "name", where + ": ", &name)) {
      ok = false;
    } else if (!IsIdentifier(name)) {
      Error(*name_node, "invalid alertmanager name " + Quoted(name) + ": " +
                            std::string(kIdentifierRule));
      ok = false;
    } else {
      a.name = name;
      name_line = static_cast<int>(name_node->source().begin.line);
    }
  }
  if (ok) {
    where = "alertmanager " + Quoted(a.name);
    auto [it, inserted] = alertmanager_names_.emplace(a.name, name_line);
    if (!inserted) {
      const std::string msg = "duplicate alertmanager name " + Quoted(a.name) +
                              " (first defined at line " + std::to_string(it->second) + ")" +
                              (name_node == nullptr ? "; give each [[alertmanager]] a \"name\"" : "");
      if (name_node != nullptr) {
        Error(*name_node, msg);
      } else {
        Error(t, msg);
      }
      ok = false;
    }
  }
  const std::string p = where + ": ";
  CheckKeys(t, kAlertmanagerKeys, where);

  const toml::node* url_node = t.get("url");
  if (url_node == nullptr) {
    Error(t, "alertmanager at line " + std::to_string(a.line) + " has no \"url\"");
    ok = false;
  } else if (ReadString(*url_node, "url", p, &a.url)) {
    if (!IsHttpUrl(a.url)) {
      Error(*url_node, p + "bad url " + Quoted(a.url) +
                           ": use the http:// or https:// base URL of Alertmanager, like "
                           "\"http://127.0.0.1:9093\"");
      ok = false;
    }
    while (a.url.size() > 1 && a.url.back() == '/') a.url.pop_back();
  } else {
    ok = false;
  }

  int64_t v = 0;
  auto duration = [&](const char* key, int64_t* out) {
    if (const toml::node* n = t.get(key)) {
      if (ReadDuration(*n, key, p, &v)) {
        *out = v;
      } else {
        ok = false;
      }
    }
  };
  duration("timeout", &a.timeout_ms);
  duration("max_age", &a.max_age_ms);
  if (const toml::node* n = t.get("resend_interval")) {
    if (!ReadDuration(*n, "resend_interval", p, &v)) {
      ok = false;
    } else if (v < 1000) {
      Error(*n, p + "\"resend_interval\" must be at least 1s, not " + FormatDurationMs(v));
      ok = false;
    } else {
      a.resend_interval_ms = v;
    }
  }

  if (!ParseDeliveryFilters(t, p, &a.rules, &a.severities, &a.tags)) ok = false;

  const toml::node* env_node = t.get("bearer_token_env");
  const toml::node* file_node = t.get("bearer_token_file");
  if (env_node != nullptr) {
    if (ReadString(*env_node, "bearer_token_env", p, &a.bearer_token_env)) {
      if (!IsEnvName(a.bearer_token_env)) {
        Error(*env_node, p + "invalid environment variable name " + Quoted(a.bearer_token_env) +
                             " for \"bearer_token_env\"");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (file_node != nullptr) {
    std::string s;
    if (ReadNonEmptyString(*file_node, "bearer_token_file", p, &s)) {
      a.bearer_token_file = ResolvePath(s);
    } else {
      ok = false;
    }
  }
  if (env_node != nullptr && file_node != nullptr) {
    const toml::node* later = env_node;
    const auto& x = env_node->source().begin;
    const auto& y = file_node->source().begin;
    if (std::pair(y.line, y.column) > std::pair(x.line, x.column)) later = file_node;
    Error(*later, p + "set \"bearer_token_env\" or \"bearer_token_file\", not both");
    ok = false;
  }
  if (ok) cfg.alertmanagers.push_back(std::move(a));
}

}  // namespace originwatch::config_internal
