// Alertmanager v2 alerts from events: labels, annotations, the JSON array
// body, and the bearer token (webhook.h, docs/alertmanager.md).
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "originwatch/alert.h"
#include "originwatch/webhook.h"
#include "webhook/rfc3339.h"
#include "webhook/secret_source.h"

namespace originwatch {
namespace {

using Json = nlohmann::ordered_json;

using webhook_internal::Rfc3339;

void Put(std::map<std::string, std::string>& m, const std::string& k, const std::string& v) {
  if (!v.empty()) m[k] = v;  // Alertmanager treats an empty label as absent
}

}  // namespace

AlertmanagerAlert AlertmanagerAlertOf(const EventPayloadInput& e) {
  AlertmanagerAlert a;
  auto& l = a.labels;
  Put(l, "alertname", e.rule);
  Put(l, "origin", e.origin);
  Put(l, "address", e.address);
  // The variant label is "sni=NAME profile=P" or "no-sni profile=P"
  // (ProbeResult::VariantLabel); an SNI never holds a space.
  if (!e.variant.empty()) {
    const std::string_view v = e.variant;
    const size_t sp = v.find(" profile=");
    const std::string_view head = v.substr(0, sp);
    if (head == "no-sni") {
      l["sni"] = "none";
    } else if (head.starts_with("sni=")) {
      Put(l, "sni", std::string(head.substr(4)));
    }
    if (sp != std::string_view::npos) Put(l, "profile", std::string(v.substr(sp + 9)));
  }
  Put(l, "severity", e.severity);
  if (!e.tags.empty()) {
    std::string tags = ",";
    for (const std::string& t : e.tags) tags += t + ",";
    l["tags"] = tags;
  }
  if (e.rule == rule::kStoreUnwritable) {
    l["severity"] = "critical";
    if (auto it = e.facts_after.find("database"); it != e.facts_after.end()) {
      Put(l, "database", it->second);
    }
  }
  Put(a.annotations, "summary", e.summary);
  Put(a.annotations, "fix", e.fix);
  Put(a.annotations, "finding", e.finding_code);
  a.starts_ms = e.alert_opened_ms > 0 ? e.alert_opened_ms : e.at_ms;
  return a;
}

std::string BuildAlertmanagerBody(const std::vector<AlertmanagerAlert>& alerts) {
  Json arr = Json::array();
  for (const AlertmanagerAlert& a : alerts) {
    Json j;
    j["labels"] = Json::object();
    for (const auto& [k, v] : a.labels) j["labels"][k] = v;
    j["annotations"] = Json::object();
    for (const auto& [k, v] : a.annotations) j["annotations"][k] = v;
    if (a.starts_ms > 0) j["startsAt"] = Rfc3339(a.starts_ms);
    if (a.ends_ms > 0) j["endsAt"] = Rfc3339(a.ends_ms);
    arr.push_back(std::move(j));
  }
  return arr.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<std::string> ReadAlertmanagerToken(const AlertmanagerConfig& am) {
  return webhook_internal::ReadSecretSource("alertmanager \"" + am.name + "\"", am.bearer_token_env,
                                            "bearer_token_env", am.bearer_token_file, "bearer_token_file");
}

}  // namespace originwatch
