// RenderMetrics (metrics.h). Every family is written whole (HELP, TYPE, then
// its samples), as the text format requires: samples of one family are never
// interleaved with another's.
#include "agent/metrics.h"

#include <charconv>

namespace originwatch::agent_internal {
namespace {

#ifndef ORIGINWATCH_VERSION
#define ORIGINWATCH_VERSION "unknown"
#endif

void Family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

// The shortest text that reads back as v ("0.005", not "0.0050000000000000001").
std::string Number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

struct Labels {
  std::string text;
  Labels& Add(std::string_view name, std::string_view value) {
    text.append(text.empty() ? "{" : ",").append(name).append("=\"").append(EscapeLabelValue(value)).append("\"");
    return *this;
  }
  std::string Str() const { return text.empty() ? "" : text + "}"; }
};

void Sample(std::string& out, std::string_view name, const Labels& l, std::string_view value) {
  out.append(name).append(l.Str()).append(" ").append(value).append("\n");
}

Labels VariantLabels(const OriginView& o, const VariantView& v) {
  Labels l;
  l.Add("origin", o.name).Add("address", v.address).Add("sni", v.sni).Add("profile", v.profile);
  return l;
}

// One per-variant gauge family over every origin; `value` returns false to
// leave a variant out (nothing known: a failed probe has no handshake time).
template <typename Fn>
void VariantFamily(std::string& out, const std::vector<std::shared_ptr<const OriginView>>& origins,
                   std::string_view name, std::string_view help, Fn value) {
  Family(out, name, "gauge", help);
  for (const auto& o : origins) {
    for (const VariantView& v : o->variants) {
      std::string s;
      Labels l = VariantLabels(*o, v);
      if (value(v, &l, &s)) Sample(out, name, l, s);
    }
  }
}

}  // namespace

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string RenderMetrics(const std::vector<std::shared_ptr<const OriginView>>& origins, const AgentGauges& g,
                          bool per_variant) {
  std::string out;
  out.reserve(4096 + origins.size() * (per_variant ? 1200 : 200));
  if (per_variant) {
    VariantFamily(out, origins, "originwatch_probe_success",
                  "Whether the last probe of the variant succeeded (TCP connect and TLS handshake, "
                  "and the expected HTTP status when the origin has an HTTP check).",
                  [](const VariantView& v, Labels*, std::string* s) {
                    *s = ProbePassed(v.last) ? "1" : "0";
                    return true;
                  });
    VariantFamily(out, origins, "originwatch_probe_http_status_code",
                  "HTTP status of the last probe's request (absent without an HTTP check or a status line).",
                  [](const VariantView& v, Labels*, std::string* s) {
                    if (!v.last.spec.http || v.last.http.status <= 0) return false;
                    *s = std::to_string(v.last.http.status);
                    return true;
                  });
    VariantFamily(out, origins, "originwatch_probe_handshake_seconds",
                  "Duration of the TLS handshake of the last probe (absent when it did not finish).",
                  [](const VariantView& v, Labels*, std::string* s) {
                    if (v.last.handshake_ms < 0) return false;
                    *s = Number(static_cast<double>(v.last.handshake_ms) / 1000.0);
                    return true;
                  });
    VariantFamily(out, origins, "originwatch_probe_connect_seconds",
                  "Duration of the TCP connect of the last probe (absent when it did not connect).",
                  [](const VariantView& v, Labels*, std::string* s) {
                    if (v.last.connect_ms < 0) return false;
                    *s = Number(static_cast<double>(v.last.connect_ms) / 1000.0);
                    return true;
                  });
    VariantFamily(out, origins, "originwatch_cert_not_after_timestamp_seconds",
                  "Expiry (notAfter, unix seconds) of the leaf certificate the variant served last.",
                  [](const VariantView& v, Labels*, std::string* s) {
                    if (v.last.chain.empty()) return false;
                    *s = std::to_string(v.last.chain.front().not_after);
                    return true;
                  });
    VariantFamily(out, origins, "originwatch_tls_info",
                  "TLS parameters negotiated by the last successful probe of the variant (always 1).",
                  [](const VariantView& v, Labels* l, std::string* s) {
                    if (v.last.outcome != Outcome::kOk || v.last.version.empty()) return false;
                    l->Add("version", v.last.version).Add("cipher", v.last.cipher).Add("group", v.last.group);
                    *s = "1";
                    return true;
                  });
  }
  Family(out, "originwatch_finding", "gauge",
         "A finding of the origin's diagnosis (1 while present; codes in docs/findings.md).");
  for (const auto& o : origins) {
    for (const FindingView& f : o->findings) {
      Sample(out, "originwatch_finding", Labels().Add("origin", o->name).Add("code", f.code).Add("severity", f.severity),
             "1");
    }
  }
  Family(out, "originwatch_probes_total", "counter", "Probe results evaluated since the agent started, by outcome.");
  for (const auto& [code, n] : g.probes_by_outcome) {
    Sample(out, "originwatch_probes_total", Labels().Add("outcome", code), std::to_string(n));
  }
  Family(out, "originwatch_in_flight", "gauge", "Probes started and not yet completed, over all engine threads.");
  Sample(out, "originwatch_in_flight", Labels(), std::to_string(g.in_flight));

  Family(out, "originwatch_schedule_drift_seconds", "histogram",
         "How late probes started after their scheduled time.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < DriftHistogram::kBuckets; ++i) {
    cumulative += g.drift.counts[i];
    const std::string le = i < std::size(DriftHistogram::kBoundsMs)
                               ? Number(static_cast<double>(DriftHistogram::kBoundsMs[i]) / 1000.0)
                               : "+Inf";
    Sample(out, "originwatch_schedule_drift_seconds_bucket", Labels().Add("le", le), std::to_string(cumulative));
  }
  Sample(out, "originwatch_schedule_drift_seconds_sum", Labels(),
         Number(static_cast<double>(g.drift.sum_ms) / 1000.0));
  Sample(out, "originwatch_schedule_drift_seconds_count", Labels(), std::to_string(cumulative));

  Family(out, "originwatch_store_queue_depth", "gauge", "Commits waiting for the database writer.");
  Sample(out, "originwatch_store_queue_depth", Labels(), std::to_string(g.store_queue_depth));
  Family(out, "originwatch_store_writable", "gauge", "0 while the database refuses writes (a full disk), else 1.");
  Sample(out, "originwatch_store_writable", Labels(), g.store_writable ? "1" : "0");
  Family(out, "originwatch_webhook_backlog", "gauge",
         "Webhook deliveries routed by this run and not yet delivered or failed.");
  Sample(out, "originwatch_webhook_backlog", Labels(), std::to_string(g.webhook_backlog));
  Family(out, "originwatch_config_last_reload_successful", "gauge",
         "1 when the last configuration reload (SIGHUP or POST /-/reload) was applied, 0 when it was rejected.");
  Sample(out, "originwatch_config_last_reload_successful", Labels(), g.last_reload_ok ? "1" : "0");
  Family(out, "originwatch_build_info", "gauge", "The agent's version (always 1).");
  Sample(out, "originwatch_build_info", Labels().Add("version", ORIGINWATCH_VERSION), "1");
  return out;
}

}  // namespace originwatch::agent_internal
