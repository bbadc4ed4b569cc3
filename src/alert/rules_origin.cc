// Certificate expiry, address sets and DNS failures: the rules of an origin or a
// certificate rather than of one variant (alert.h).
#include <algorithm>
#include <cmath>
#include <set>

#include "alert/rules_internal.h"
#include "alert/rules_text.h"
#include "diagnose/diagnose_text.h"
#include "originwatch/alert.h"

namespace originwatch {

using diagnose_internal::DescribeCert;
using diagnose_internal::FormatDate;
using diagnose_internal::Join;
using namespace alert_internal;  // NOLINT: the rules' own private helpers

// --- certificate expiry ------------------------------------------------------

ExpiryEvaluation EvaluateExpiry(const CertExpiryState& prev, const CertInfo& leaf,
                                const std::vector<std::string>& origins_serving_it,
                                const AlertThresholds& t, int64_t now_ms) {
  ExpiryEvaluation ev{prev, std::nullopt};
  CertExpiryState& s = ev.state;
  s.sha256 = CertId(leaf);
  const int64_t now_s = now_ms / 1000;
  const int64_t left_s = leaf.not_after - now_s;
  const int64_t lifetime_s = std::max<int64_t>(0, leaf.not_after - leaf.not_before);
  auto threshold_s = [&](int days, double fraction) {
    const int64_t by_days = int64_t{days} * 86400;
    const auto by_life =
        static_cast<int64_t>(std::floor(fraction * static_cast<double>(lifetime_s)));
    return lifetime_s > 0 ? std::min(by_days, by_life) : by_days;
  };
  const int64_t warn_s = threshold_s(t.expiry_warning_days, t.lifetime_warning_fraction);
  const int64_t crit_s = threshold_s(t.expiry_critical_days, t.lifetime_critical_fraction);

  std::optional<Severity> now_sev;
  if (!origins_serving_it.empty()) {
    if (left_s <= 0 || left_s < crit_s) {
      now_sev = Severity::kCritical;
    } else if (left_s < warn_s) {
      now_sev = Severity::kWarning;
    }
  }

  std::vector<std::string> origins = origins_serving_it;
  std::sort(origins.begin(), origins.end());
  origins.erase(std::unique(origins.begin(), origins.end()), origins.end());
  const std::string served_by = Join(origins, ", ");

  AlertEvent e;
  e.rule = std::string(rule::kCertExpiry);
  e.key = std::string(rule::kCertExpiry) + "|" + s.sha256;
  e.origin = Join(origins, ",");
  e.at_ms = now_ms;
  e.facts_after = {{"sha256", s.sha256},
                   {"subject", leaf.subject},
                   {"issuer", leaf.issuer},
                   {"not_before", FormatDate(leaf.not_before)},
                   {"not_after", FormatDate(leaf.not_after)},
                   {"seconds_left", std::to_string(left_s)},
                   {"lifetime_days", std::to_string(lifetime_s / 86400)},
                   {"warning_threshold", DurationText(warn_s)},
                   {"critical_threshold", DurationText(crit_s)}};
  const std::string cert_cap =
      "The certificate (" + DescribeCert(leaf) + "; sha256 " + ShortSha(s.sha256) + ")";

  if (!now_sev) {
    if (!prev.open) return ev;
    e.kind = AlertKind::kResolved;
    e.severity = prev.severity;
    e.since_ms = prev.since_ms;
    e.finding_code = "";
    if (origins.empty()) {
      e.summary = cert_cap + " is no longer served by any origin.";
    } else {
      e.summary = cert_cap + " has " + DurationText(left_s) +
                  " left, above the warning threshold (" + DurationText(warn_s) + ").";
    }
    e.fix = "No action needed.";
    e.message = (origins.empty() ? std::string("resolved: ") : served_by + ": resolved: ") +
                "certificate expiry: " + e.summary;
    s.open = false;
    s.severity = Severity::kInfo;
    s.since_ms = 0;
    ev.event = std::move(e);
    return ev;
  }

  const Severity sev = *now_sev;
  if (prev.open && prev.severity == sev) {
    s.last_seen_ms = now_ms;
    return ev;
  }
  e.kind = prev.open ? AlertKind::kUpdated : AlertKind::kFiring;
  e.severity = sev;
  e.since_ms = prev.open ? prev.since_ms : now_ms;
  s.open = true;
  s.severity = sev;
  s.since_ms = e.since_ms;
  s.last_seen_ms = now_ms;
  if (prev.open) e.facts_before["severity"] = std::string(SeverityName(prev.severity));

  const bool short_lived =
      lifetime_s > 0 && lifetime_s < int64_t{t.expiry_warning_days} * 86400 * 3;
  if (left_s <= 0) {
    e.finding_code = std::string(finding::kCertExpired);
    e.summary = cert_cap + " expired " + DurationText(-left_s) + " ago (" +
                FormatDate(leaf.not_after) + "): clients reject the connection.";
  } else {
    e.finding_code = std::string(finding::kCertExpiringSoon);
    e.summary = cert_cap + " expires in " + DurationText(left_s) + " (" +
                FormatDate(leaf.not_after) + "), below the " + std::string(SeverityName(sev)) +
                " threshold of " + DurationText(sev == Severity::kCritical ? crit_s : warn_s) +
                (short_lived ? " (lifetime " + DurationText(lifetime_s) + ")" : "") + ".";
  }
  e.fix = "Renew the certificate and deploy it on every endpoint that serves it (" + served_by +
          "). If renewal is automated (ACME), read the client's log: it should have renewed when a "
          "third of the lifetime was left.";
  std::string head = served_by + ": ";
  if (e.kind == AlertKind::kUpdated) {
    head += std::string(sev > prev.severity ? "escalated" : "de-escalated") + " from " +
            std::string(SeverityName(prev.severity)) + " to " + std::string(SeverityName(sev)) +
            ": ";
  }
  e.message = head + Uncapitalized(e.summary) + " Fix: " + e.fix;
  ev.event = std::move(e);
  return ev;
}

// --- addresses ---------------------------------------------------------------

std::optional<AlertEvent> EvaluateAddresses(const std::string& origin,
                                            const std::vector<std::string>& before,
                                            const std::vector<std::string>& after, int64_t now_ms) {
  const std::set<std::string> b(before.begin(), before.end());
  const std::set<std::string> a(after.begin(), after.end());
  if (b.empty() || a.empty() || a == b) return std::nullopt;
  std::vector<std::string> added, removed, now_list(a.begin(), a.end()),
      was_list(b.begin(), b.end());
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(added));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(removed));
  const bool moved = removed.size() == b.size();  // nothing of the old set remains
  AlertEvent e;
  e.rule = std::string(rule::kAddressesChanged);
  e.kind = AlertKind::kEvent;
  e.severity = moved ? Severity::kWarning : Severity::kInfo;
  e.key = origin + "|" + e.rule + "|" + Join(now_list, ",");
  e.origin = origin;
  e.at_ms = now_ms;
  e.since_ms = now_ms;
  e.facts_before = {{"addresses", Join(was_list, ",")}};
  e.facts_after = {{"addresses", Join(now_list, ",")}};
  if (!added.empty()) e.facts_after["added"] = Join(added, ",");
  if (!removed.empty()) e.facts_after["removed"] = Join(removed, ",");
  std::vector<std::string> parts;
  if (!added.empty()) parts.push_back("added " + Join(added, ", "));
  if (!removed.empty()) parts.push_back("removed " + Join(removed, ", "));
  e.summary = "The origin's name now resolves to " + Join(now_list, ", ") + " (" +
              Join(parts, "; ") + ")" + (moved ? ": none of the previous addresses remains." : ".");
  e.fix =
      "No action needed if the move was planned. Otherwise check the DNS records: a wrong or "
      "hijacked record sends clients elsewhere. New addresses are probed from now on; alerts of "
      "removed addresses resolve.";
  e.message = origin + ": the address set changed: " + Join(parts, "; ") + ". " + e.summary +
              " Fix: " + e.fix;
  return e;
}


// --- DNS ---------------------------------------------------------------------

std::optional<AlertEvent> EvaluateDns(RuleTrack& track, const std::string& origin,
                                      const std::string& host, bool resolved,
                                      const std::string& error,
                                      const std::vector<std::string>& kept_addresses,
                                      const AlertThresholds& t, int64_t now_ms) {
  Observation o;
  if (resolved) {
    o.obs = Obs::kGood;
  } else {
    o.obs = Obs::kBad;
    o.severity = Severity::kCritical;
    o.detail = error.empty() ? "no answer" : error;
  }
  const int bad_before = track.bad;
  auto tr = Step(track, o, t, now_ms);
  if (!tr) return std::nullopt;
  AlertEvent e;
  e.rule = std::string(rule::kDnsError);
  e.kind = tr->kind;
  e.severity = tr->severity;
  e.key = origin + "|" + e.rule;
  e.origin = origin;
  e.at_ms = now_ms;
  e.since_ms = tr->since_ms;
  e.finding_code = std::string(finding::kDnsError);
  const std::string kept = Join(kept_addresses, ", ");
  if (tr->kind == AlertKind::kResolved) {
    const int m = std::max(1, t.resolve_after);
    e.finding_code.clear();
    e.facts_before["detail"] = tr->detail;
    e.facts_after["addresses"] = Join(kept_addresses, ",");
    e.summary = "The name " + host + " resolves again (" +
                (m == 1 ? std::string("1 answer") : std::to_string(m) + " answers in a row") + ").";
    e.fix = "No action needed.";
    e.message = origin + ": resolved: DNS lookups of " + host + " answer again; failing since " +
                FormatDate(tr->since_ms / 1000) + " (" + tr->detail + ").";
    return e;
  }
  e.facts_after["error"] = tr->detail;
  e.facts_after["host"] = host;
  if (!kept.empty()) e.facts_after["probed_addresses"] = Join(kept_addresses, ",");
  const int n = std::max(bad_before + 1, 1);
  e.summary = "The name " + host + " does not resolve (" + tr->detail + "), " +
              (n == 1 ? std::string("1 lookup") : std::to_string(n) + " lookups in a row") + ".";
  e.summary += kept.empty()
                   ? " No earlier answer is known: nothing can be probed until it resolves."
                   : " Clients with a cached answer still reach " + kept +
                         ", which stay probed with their alerts; new clients cannot connect.";
  e.fix = "Check the DNS records of " + host +
          " at its authoritative servers (dig +trace " + host +
          ") and the resolver the agent uses (/etc/resolv.conf): an expired domain, a deleted "
          "record or a broken delegation shows up here first.";
  e.message = origin + ": DNS lookups of " + host + " fail: " + Uncapitalized(e.summary) +
              " Fix: " + e.fix;
  return e;
}

}  // namespace originwatch
