#include "agent/api_json.h"

#include <ctime>

#include <nlohmann/json.hpp>

namespace originwatch::agent_internal {
namespace {

using json = nlohmann::ordered_json;  // "schema" first, keys in the order written

json Ms(int64_t v) { return v < 0 ? json(nullptr) : json(v); }

json OriginObject(const OriginView& o, int64_t now_ms) {
  json j;
  j["name"] = o.name;
  j["host"] = o.host;
  j["state"] = o.state;
  j["updated_at"] = IsoTime(o.updated_ms / 1000);
  json findings = json::array();
  for (const FindingView& f : o.findings) {
    findings.push_back({{"code", f.code}, {"severity", f.severity}, {"summary", f.summary}, {"fix", f.fix}});
  }
  j["findings"] = std::move(findings);
  if (o.cert_not_after != 0) {
    const int64_t left_s = o.cert_not_after - now_ms / 1000;
    j["certificate"] = {{"subject", o.cert_subject},
                        {"issuer", o.cert_issuer},
                        {"not_after", IsoTime(o.cert_not_after)},
                        {"days_left", left_s >= 0 ? left_s / 86400 : -((-left_s + 86399) / 86400)}};
  } else {
    j["certificate"] = nullptr;
  }
  json alerts = json::array();
  for (const AlertView& a : o.open_alerts) {
    alerts.push_back({{"rule", a.rule},
                      {"variant", a.variant},
                      {"severity", a.severity},
                      {"since", IsoTime(a.since_ms / 1000)},
                      {"detail", a.detail}});
  }
  j["open_alerts"] = std::move(alerts);
  json variants = json::array();
  for (const VariantView& v : o.variants) {
    const ProbeResult& r = v.last;
    json last = {{"at", IsoTime(r.started_at_ms / 1000)},
                 {"outcome", std::string(OutcomeCode(r.outcome))},
                 {"connect_ms", Ms(r.connect_ms)},
                 {"handshake_ms", Ms(r.handshake_ms)},
                 {"total_ms", r.total_ms},
                 {"version", r.version},
                 {"cipher", r.cipher},
                 {"group", r.group},
                 {"alert", r.alert < 0 ? json(nullptr) : json(r.alert)},
                 {"error", r.error_text},
                 {"passed", ProbePassed(r)}};
    if (r.spec.http) {
      last["http"] = {{"outcome", std::string(HttpOutcomeCode(r.http.outcome))},
                      {"status", r.http.status > 0 ? json(r.http.status) : json(nullptr)},
                      {"server", r.http.server},
                      {"via", r.http.via},
                      {"ttfb_ms", Ms(r.http.ttfb_ms)}};
    }
    if (!r.chain.empty()) {
      last["leaf"] = {{"subject", r.chain.front().subject},
                      {"not_after", IsoTime(r.chain.front().not_after)},
                      {"sha256", r.chain.front().sha256_hex}};
    }
    json recent = json::array();
    for (const ProbeMark& m : v.recent) {
      recent.push_back({{"at", IsoTime(m.at_ms / 1000)},
                        {"outcome", std::string(OutcomeCode(m.outcome))},
                        {"handshake_ms", Ms(m.handshake_ms)},
                        {"http_status", m.http_status > 0 ? json(m.http_status) : json(nullptr)},
                        {"passed", m.passed}});
    }
    variants.push_back({{"key", v.key},
                        {"address", v.address},
                        {"sni", v.sni},
                        {"profile", v.profile},
                        {"open_rules", v.open_rules},
                        {"last", std::move(last)},
                        {"recent", std::move(recent)}});
  }
  j["variants"] = std::move(variants);
  return j;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"; }

}  // namespace

std::string IsoTime(int64_t unix_s) {
  if (unix_s == 0) return "";
  const time_t t = static_cast<time_t>(unix_s);
  tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string OriginsJson(const std::vector<std::shared_ptr<const OriginView>>& origins, int64_t now_ms) {
  json j;
  j["schema"] = kApiSchema;
  j["generated_at"] = IsoTime(now_ms / 1000);
  json list = json::array();
  for (const auto& o : origins) list.push_back(OriginObject(*o, now_ms));
  j["origins"] = std::move(list);
  return Dump(j);
}

std::string OriginJson(const OriginView& origin, int64_t now_ms) {
  json j;
  j["schema"] = kApiSchema;
  j["generated_at"] = IsoTime(now_ms / 1000);
  j["origin"] = OriginObject(origin, now_ms);
  return Dump(j);
}

}  // namespace originwatch::agent_internal
