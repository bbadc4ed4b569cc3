#include "cli/render.h"

#include "originwatch/text.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>

namespace originwatch::cli {
namespace {

std::string Dur(int64_t ms) { return ms < 0 ? "-" : std::to_string(ms) + " ms"; }

int64_t DaysLeft(const CertInfo& c, int64_t now_s) {
  int64_t d = c.not_after - now_s;
  return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

std::string Wrap(const std::string& text, size_t width, const std::string& indent) {
  std::istringstream in(text);
  std::string word, line, out;
  while (in >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += indent + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out += indent + line + "\n";
  return out;
}

// The expected names the served certificate does not cover, comma-joined.
std::string Uncovered(const ProbeResult& r) {
  std::string out;
  for (const auto& n : r.names) {
    if (!n.covered) out += (out.empty() ? "" : ", ") + n.name;
  }
  return out;
}

std::string ResultLine(const ProbeResult& r) {
  if (r.ok() && r.spec.http && r.spec.http->plain) return "ok  connected (plain HTTP, no TLS)";
  if (r.ok()) {
    std::string s = "ok  " + r.version + " " + r.cipher;
    if (!r.group.empty()) s += " " + r.group;
    if (!r.alpn.empty()) s += " alpn=" + r.alpn;
    // The handshake worked, but a client checking the name would stop here:
    // say so on the row, so one address among several stands out.
    if (std::string missing = Uncovered(r); !missing.empty()) s += "; does not cover " + missing;
    return s;
  }
  std::string s(OutcomeCode(r.outcome));
  if (r.alert >= 0) {
    s += " (alert " + std::to_string(r.alert);
    std::string_view name = TlsAlertName(r.alert);
    if (!name.empty()) s += " " + std::string(name);
    s += ")";
  }
  return s;
}

// Text a server chose (certificate names, subjects) goes to a terminal:
// control characters become \xNN so a hostile certificate cannot move the
// cursor or change colours.
std::string Safe(const std::string& in) { return TerminalSafe(in).first; }

std::string Pad(std::string s, size_t n) {
  if (s.size() < n) s.append(n - s.size(), ' ');
  return s;
}

}  // namespace

std::string ResultLabel(const ProbeResult& r) {
  return r.spec.http && r.spec.http->plain ? "plain-http" : r.VariantLabel();
}

std::string HttpLine(const ProbeResult& r) {
  const HttpResult& h = r.http;
  std::string s = "HTTP ";
  if (h.outcome == HttpOutcome::kOk) {
    s += std::to_string(h.status);
    if (!h.reason.empty()) s += " " + Safe(h.reason);
  } else {
    s += std::string(HttpOutcomeCode(h.outcome));
    if (!h.error_text.empty()) s += ": " + Safe(h.error_text);
  }
  if (h.ttfb_ms >= 0) s += "  ttfb " + Dur(h.ttfb_ms);
  if (h.second_connection) s += "  (second connection, http/1.1)";
  if (!h.server.empty()) s += "  server=" + Safe(h.server);
  if (!h.via.empty()) s += "  via=" + Safe(h.via);
  if (!h.x_cache.empty()) s += "  x-cache=" + Safe(h.x_cache);
  if (!h.location.empty()) s += "  location=" + Safe(h.location);
  if (!h.first_bytes.empty()) s += "  first bytes: \"" + h.first_bytes.substr(0, 60) + "\"";
  return s;
}

nlohmann::json HttpJson(const ProbeResult& r) {
  if (!r.spec.http) return nullptr;
  const HttpResult& h = r.http;
  auto opt_str = [](const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); };
  auto opt_ms = [](int64_t ms) { return ms < 0 ? nlohmann::json() : nlohmann::json(ms); };
  return {{"outcome", std::string(HttpOutcomeCode(h.outcome))},
          {"method", r.spec.http->method},
          {"path", r.spec.http->path},
          {"status", h.status > 0 ? nlohmann::json(h.status) : nlohmann::json()},
          {"reason", h.status > 0 ? nlohmann::json(h.reason) : nlohmann::json()},
          {"server", opt_str(h.server)},
          {"via", opt_str(h.via)},
          {"x_cache", opt_str(h.x_cache)},
          {"location", opt_str(h.location)},
          {"ttfb_ms", opt_ms(h.ttfb_ms)},
          {"total_ms", opt_ms(h.total_ms)},
          {"body_bytes", h.body_bytes},
          {"second_connection", h.second_connection},
          {"error", opt_str(h.error_text)},
          {"first_bytes", opt_str(h.first_bytes)}};
}

std::string IsoTime(int64_t unix_s) {
  time_t t = static_cast<time_t>(unix_s);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string DnsLine(const DnsReport& dns) {
  const DnsAnswer& a = dns.answer;
  std::string out = "DNS: " + Safe(dns.name);
  if (dns.family != Family::kAny) out += " (" + std::string(FamilyName(dns.family)) + ")";
  out += " -> ";
  if (a.outcome == Outcome::kOk) {
    std::string addrs;
    for (const auto& addr : a.addresses) addrs += (addrs.empty() ? "" : ", ") + addr;
    out += addrs;
  } else {
    out += std::string(OutcomeCode(a.outcome)) + ": " + Safe(a.error);
  }
  out += " (via " + (a.resolver.empty() ? std::string("system") : a.resolver) + ", " +
         std::to_string(a.dns_ms) + " ms";
  // Lines of the hosts file have no TTL.
  if (a.outcome == Outcome::kOk && a.resolver != "hosts" && a.resolver != "literal")
    out += ", ttl " + std::to_string(a.ttl_ms / 1000) + "s";
  if (a.cached) out += ", cached";
  return out + ")";
}

std::string RenderProbeText(const ProbeReportInput& in, bool color) {
  const char* bold = color ? "\033[1m" : "";
  const char* red = color ? "\033[31m" : "";
  const char* yellow = color ? "\033[33m" : "";
  const char* green = color ? "\033[32m" : "";
  const char* reset = color ? "\033[0m" : "";
  std::string out;
  out += std::string(bold) + "originwatch probe " +
         (in.url.empty() ? in.host + ":" + std::to_string(in.port) : Safe(in.url)) + reset;
  std::string addrs;
  for (const auto& a : in.addresses) addrs += (addrs.empty() ? "" : ", ") + a;
  out += "  (" + (addrs.empty() ? std::string("no address") : addrs) + ")\n";
  if (in.dns) out += DnsLine(*in.dns) + "\n";
  if (!in.ca_description.empty()) out += "trust: " + in.ca_description + "\n";
  out += "\n";

  bool multi_addr = in.addresses.size() > 1;
  size_t width = 8;
  std::vector<std::string> labels;
  for (const auto& r : in.results) {
    std::string l = (multi_addr ? r.spec.address + " " : "") + ResultLabel(r);
    width = std::max(width, l.size());
    labels.push_back(l);
  }
  out += "  " + Pad("VARIANT", width) + "  " + Pad("CONNECT", 9) + Pad("HANDSHAKE", 11) + "RESULT\n";
  for (size_t i = 0; i < in.results.size(); ++i) {
    const ProbeResult& r = in.results[i];
    out += "  " + Pad(labels[i], width) + "  " + Pad(Dur(r.connect_ms), 9) +
           Pad(Dur(r.handshake_ms), 11) + (r.ok() && Uncovered(r).empty() ? green : red) + ResultLine(r) + reset + "\n";
    if (!r.ok() && !r.error_text.empty()) out += "  " + std::string(width + 22, ' ') + Safe(r.error_text) + "\n";
    if (!r.first_bytes.empty()) out += "  " + std::string(width + 22, ' ') + "first bytes: \"" + r.first_bytes.substr(0, 60) + "\"\n";
    if (r.spec.http && r.http.outcome != HttpOutcome::kNotRun) {
      const bool good = r.http.outcome == HttpOutcome::kOk && r.spec.http->Expected(r.http.status);
      out += "  " + std::string(width + 22, ' ') + (good ? green : red) + HttpLine(r) + reset + "\n";
    }
  }

  // Each distinct chain once, with the variants that saw it.
  std::map<std::string, std::vector<size_t>> chains;
  std::vector<std::string> order;
  for (size_t i = 0; i < in.results.size(); ++i) {
    const ProbeResult& r = in.results[i];
    if (r.chain.empty()) continue;
    std::string key = r.chain.front().sha256_hex + "/" + std::to_string(r.chain.size());
    if (!chains.count(key)) order.push_back(key);
    chains[key].push_back(i);
  }
  for (const std::string& key : order) {
    const ProbeResult& r = in.results[chains[key].front()];
    const CertInfo& leaf = r.chain.front();
    out += "\n" + std::string(bold) + "Certificate" + reset + " seen by ";
    std::string seen;
    for (size_t i : chains[key]) seen += (seen.empty() ? "" : ", ") + labels[i];
    out += seen + "\n";
    out += "  subject   " + Safe(leaf.subject) + "\n";
    out += "  issuer    " + Safe(leaf.issuer) + "\n";
    std::string names;
    for (const auto& n : leaf.dns_names) names += (names.empty() ? "" : ", ") + n;
    for (const auto& n : leaf.ip_names) names += (names.empty() ? "" : ", ") + n;
    out += "  names     " + (names.empty() ? std::string("(no subjectAltName)") : Safe(names)) + "\n";
    int64_t days = DaysLeft(leaf, in.now_s);
    out += "  valid     " + IsoTime(leaf.not_before) + " .. " + IsoTime(leaf.not_after) + "  (" +
           (days >= 0 ? std::to_string(days) + " days left" : "expired " + std::to_string(-days) + " days ago") + ")\n";
    out += "  key       " + std::string(KeyTypeName(leaf.key_type)) + " " + std::to_string(leaf.key_bits) +
           (leaf.key_curve.empty() ? "" : " (" + leaf.key_curve + ")") + ", signed " + leaf.signature_algorithm + "\n";
    out += "  serial    " + leaf.serial_hex + "\n";
    out += "  sha256    " + leaf.sha256_hex + "\n";
    out += "  chain     " + std::to_string(r.chain.size()) + (r.chain.size() == 1 ? " certificate" : " certificates");
    for (size_t k = 1; k < r.chain.size() && k < 4; ++k) out += (k == 1 ? ": " : ", ") + Safe(r.chain[k].common_name);
    if (r.chain.size() > 4) out += ", ...";
    out += "\n";
    out += "  verify    " + (r.chain_verified ? std::string(green) + "ok" + reset
                                              : std::string(red) + r.verify_error + reset +
                                                    (r.verify_depth >= 0 ? " (depth " + std::to_string(r.verify_depth) + ")" : "")) + "\n";
    std::string cover;
    for (const auto& n : r.names) cover += (cover.empty() ? "" : ", ") + n.name + (n.covered ? " covered" : " NOT covered");
    if (!cover.empty()) out += "  expected  " + cover + "\n";
    out += std::string("  ocsp      ") + (r.ocsp_stapled ? "stapled" : "not stapled") + "\n";
  }

  out += "\n";
  const auto& findings = in.diagnosis.findings;
  for (size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    const char* c = f.severity == Severity::kCritical ? red : f.severity == Severity::kWarning ? yellow : green;
    out += std::string(bold) + (i == 0 ? "Diagnosis: " : "Also:      ") + reset + c + f.code + reset + " (" +
           std::string(SeverityName(f.severity)) + ")\n";
    out += Wrap(Safe(f.summary), 92, "  ");
    if (!f.fix.empty()) out += Wrap("Fix: " + Safe(f.fix), 92, "  ");
    out += "\n";
  }
  return out;
}

nlohmann::json CertJson(const CertInfo& c, int64_t now_s) {
  return {{"subject", c.subject},
          {"issuer", c.issuer},
          {"common_name", c.common_name},
          {"serial", c.serial_hex},
          {"dns_names", c.dns_names},
          {"ip_names", c.ip_names},
          {"not_before", IsoTime(c.not_before)},
          {"not_after", IsoTime(c.not_after)},
          {"days_left", DaysLeft(c, now_s)},
          {"key_type", std::string(KeyTypeName(c.key_type))},
          {"key_bits", c.key_bits},
          {"key_curve", c.key_curve.empty() ? nlohmann::json() : nlohmann::json(c.key_curve)},
          {"signature_algorithm", c.signature_algorithm},
          {"sha256", c.sha256_hex},
          {"self_issued", c.self_issued},
          {"is_ca", c.is_ca}};
}

nlohmann::json ResultJson(const ProbeResult& r, int64_t now_s) {
  auto opt_str = [](const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); };
  auto opt_ms = [](int64_t ms) { return ms < 0 ? nlohmann::json() : nlohmann::json(ms); };
  nlohmann::json j = {
      {"label", r.VariantLabel()},
      {"address", r.spec.address},
      {"port", r.spec.port},
      {"sni", r.spec.sni ? nlohmann::json(*r.spec.sni) : nlohmann::json()},
      {"profile", r.spec.profile},
      {"started_at", IsoTime(r.started_at_ms / 1000)},
      {"outcome", std::string(OutcomeCode(r.outcome))},
      {"alert", r.alert >= 0 ? nlohmann::json(r.alert) : nlohmann::json()},
      {"alert_name", r.alert >= 0 ? opt_str(std::string(TlsAlertName(r.alert))) : nlohmann::json()},
      {"error", opt_str(r.error_text)},
      {"first_bytes", opt_str(r.first_bytes)},
      {"timings_ms", {{"connect", opt_ms(r.connect_ms)}, {"handshake", opt_ms(r.handshake_ms)}, {"total", r.total_ms}}},
      {"bytes_read", r.bytes_read},
      {"version", opt_str(r.version)},
      {"cipher", opt_str(r.cipher)},
      {"group", opt_str(r.group)},
      {"alpn", opt_str(r.alpn)},
      {"ocsp_stapled", r.ok() ? nlohmann::json(r.ocsp_stapled) : nlohmann::json()},
      {"dns_ms", opt_ms(r.dns_ms)},
      {"dns_cached", r.dns_ms < 0 ? nlohmann::json() : nlohmann::json(r.dns_cached)},
  };
  if (r.verify_code >= 0) {
    j["verify"] = {{"ok", r.chain_verified},
                   {"code", r.verify_code},
                   {"error", opt_str(r.verify_error)},
                   {"depth", r.verify_depth >= 0 ? nlohmann::json(r.verify_depth) : nlohmann::json()}};
  } else {
    j["verify"] = nullptr;
  }
  nlohmann::json names = nlohmann::json::array();
  for (const auto& n : r.names) names.push_back({{"name", n.name}, {"covered", n.covered}});
  j["names"] = names;
  nlohmann::json chain = nlohmann::json::array();
  for (const auto& c : r.chain) chain.push_back(CertJson(c, now_s));
  j["chain"] = chain;
  j["http"] = HttpJson(r);
  return j;
}

nlohmann::json FindingJson(const Finding& f) {
  return {{"code", f.code},
          {"severity", std::string(SeverityName(f.severity))},
          {"summary", f.summary},
          {"fix", f.fix},
          {"variants", f.variants}};
}

nlohmann::json DnsJson(const DnsReport& dns) {
  const DnsAnswer& a = dns.answer;
  return {{"name", dns.name},
          {"family", FamilyName(dns.family)},
          {"resolver", a.resolver},
          {"outcome", std::string(OutcomeCode(a.outcome))},
          {"error", a.error.empty() ? nlohmann::json() : nlohmann::json(a.error)},
          {"addresses", a.addresses},
          {"ttl_ms", a.ttl_ms},
          {"dns_ms", a.dns_ms},
          {"cached", a.cached}};
}

nlohmann::json ProbeJson(const ProbeReportInput& in) {
  nlohmann::json variants = nlohmann::json::array();
  for (const auto& r : in.results) variants.push_back(ResultJson(r, in.now_s));
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : in.diagnosis.findings) findings.push_back(FindingJson(f));
  return {{"schema", "originwatch.probe/1"},
          {"url", in.url.empty() ? nlohmann::json() : nlohmann::json(in.url)},
          {"host", in.host},
          {"port", in.port},
          {"addresses", in.addresses},
          {"dns", in.dns ? DnsJson(*in.dns) : nlohmann::json()},
          {"trust", in.ca_description},
          {"checked_at", IsoTime(in.now_s)},
          {"healthy", in.diagnosis.healthy()},
          {"diagnosis", in.diagnosis.findings.empty() ? nlohmann::json() : nlohmann::json(in.diagnosis.lead().code)},
          {"findings", findings},
          {"variants", variants}};
}

std::string DumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace originwatch::cli
