// The evaluator: what the agent currently believes about each origin, and the
// one path from a probe result (or a DNS answer) to the store.
//
// For every result it keeps the origin's latest result per variant, diagnoses
// the origin ONCE with the configured profiles and thresholds, applies the
// pure alert rules (alert.h) to the state it holds in memory, and returns one
// Commit: the probe row, the lead finding of that same diagnosis, the changed
// alert states, the events (with deterministic ids, their webhook body and
// routes) and the open alerts seen again. The store writes a Commit in one
// transaction. The finding in variant_state, the `failing` report, the
// webhook and the terminal is therefore the same object.
//
// Evaluator is single-threaded pure logic: no SQL, no sockets, no clock (now
// is a parameter). State is restored from the store's AlertSnapshot at start.
// EvaluatorStage (below) runs one on its own thread behind a bounded queue, so
// an engine thread only moves its ProbeResult into the queue.
//
// Identity: a variant is "<origin>|<address:port>|sni=NAME or no-sni|<profile>";
// an alert's dedup key is documented in alert.h (AlertEvent::key).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "originwatch/alert.h"
#include "originwatch/config.h"
#include "originwatch/diagnose.h"
#include "originwatch/origin_view.h"
#include "originwatch/probe.h"
#include "originwatch/status.h"
#include "originwatch/store.h"

namespace originwatch {

// An immutable snapshot of what the evaluator needs of the configuration;
// replaced whole on reload.
struct EvaluatorConfig {
  AlertThresholds global;
  std::map<std::string, AlertThresholds> per_origin;  // origins with overrides
  std::map<std::string, std::vector<std::string>> origin_tags;
  std::map<std::string, std::string> origin_hosts;  // configured origins -> host
  // Fronts -> the origin they proxy to (`upstream`): a front's 502/504 finding
  // is explained from that origin's latest diagnosis.
  std::map<std::string, std::string> origin_upstreams;
  std::vector<WebhookConfig> webhooks;              // name and filters
  std::vector<ClientProfile> profiles;              // for the diagnosis

  const AlertThresholds& For(const std::string& origin) const;
  bool Configured(const std::string& origin) const { return origin_hosts.count(origin) > 0; }
  // Webhooks whose rules, severities and tags filters take the event.
  std::vector<std::string> Routes(const AlertEvent& e) const;
};

// Errors: thresholds that do not validate (ValidateThresholds), naming the
// file and the origin.
Result<std::shared_ptr<const EvaluatorConfig>> BuildEvaluatorConfig(const AgentConfig& cfg);

// A DNS lookup of an origin's name, after the address book's hysteresis
// (src/dns AddressBook): the addresses still probed and what changed.
// addresses_changed is raised only for a change that held over the book's
// hysteresis window (an address retired); addresses an answer adds (a CDN's
// rotation, or a move whose old addresses are not retired yet) are probed at
// once without an event.
struct DnsObservation {
  std::string origin;
  std::string host;
  bool resolved = false;
  std::string error;                   // when !resolved
  std::vector<std::string> answer;     // this lookup's addresses (when resolved)
  std::vector<std::string> addresses;  // probed after this answer (sorted)
  std::vector<std::string> previous;   // probed before this answer (sorted)
  std::vector<std::string> retired;    // addresses no longer probed from now on
  bool set_changed = false;            // addresses differ from the previous set
  std::string book_state;              // the address book of the origin, to persist
  int64_t at_ms = 0;
  // The lookup itself (resolver.h DnsAnswer), recorded with each probe of the
  // origin until the next lookup.
  Outcome outcome = Outcome::kOk;
  int64_t dns_ms = -1;
  bool cached = false;
  int64_t ttl_ms = 0;
  std::string resolver;
};

// What the evaluator needs to know of a plan.
struct PlanView {
  std::set<std::string> variants;  // VariantIdentity of every planned probe
  std::map<std::string, std::set<std::string>> addresses;  // origin -> planned addresses
  std::set<std::string> fixed_origins;  // origins with `connect` addresses (no DNS)
};

class Evaluator {
 public:
  // Restores the states of an earlier run; unreadable entries are skipped
  // (they are rebuilt by the next results).
  Evaluator(std::shared_ptr<const EvaluatorConfig> config, const AlertSnapshot& restored);

  // One probe result. A result of an origin that is not configured (it was
  // removed while the probe was in flight) is stored as history only.
  Commit OnResult(ProbeResult result, int64_t now_ms);

  // One DNS lookup of an origin's name: dns_error, addresses_changed, and the
  // retirement of the variants of addresses the book retired. A failed lookup
  // never retires anything and never closes an alert.
  Commit OnDns(const DnsObservation& dns, int64_t now_ms);

  // A new configuration: its thresholds and routes apply from now on. The
  // alerts of origins no longer configured, and of variants the plan no
  // longer probes because the configuration dropped them (an SNI, a profile,
  // a fixed address), resolve. Addresses that left DNS are not judged here
  // (only OnDns retires them, after hysteresis): a variant whose address the
  // plan does not hold for a resolved origin is left alone.
  Commit OnConfig(std::shared_ptr<const EvaluatorConfig> config, const PlanView& plan, int64_t now_ms);

  // The addresses of an origin's address book as restored (state
  // "addresses:<origin>"), for the agent to seed its books.
  const std::map<std::string, std::string>& restored_books() const { return books_; }

  // A snapshot of one configured origin for the HTTP endpoint (origin_view.h):
  // its variants' latest results (leaf only, no DER), its diagnosis (the one
  // OnResult made and correlated: never a second one), its open alerts and its
  // certificate. Recent probes are left empty (the stage keeps them). nullptr
  // for an origin that is not configured. Same thread as OnResult.
  std::shared_ptr<OriginView> View(const std::string& origin, int64_t now_ms) const;
  // The configured origins (for ViewSink::Retain).
  std::set<std::string> ConfiguredOrigins() const;

  struct Stats {
    uint64_t results = 0;
    uint64_t diagnoses = 0;
    uint64_t events = 0;
    uint64_t states_written = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Variant {
    VariantAlertState state;
    VariantAlertState persisted;  // as last written, to skip writes that change nothing durable
    int latest = -1;              // index into Origin::latest, -1 = no result yet
  };
  struct Origin {
    std::map<std::string, Variant> variants;  // by VariantKeyOf
    // The latest result of each variant (certificate bytes cleared), in one
    // vector so the diagnosis reads them without a copy.
    std::vector<ProbeResult> latest;
    RuleTrack dns;
    RuleTrack dns_persisted;
    // The last successful lookup, recorded with the origin's probes.
    int64_t dns_ms = -1;
    bool dns_cached = false;
    std::string dns_addresses;
    int64_t dns_ttl_ms = 0;
    std::string dns_resolver;
    // The latest diagnosis (correlated), read when a front names this origin
    // as its upstream. Empty until the first result.
    Diagnosis diagnosis;
  };
  // The variants serving one leaf. A CDN certificate may be served by
  // thousands of origins: everything here is O(log n) per probe; the full list
  // of origins is built only for an event or an open alert.
  struct Serving {
    std::map<std::string, std::string> variants;  // variant identity -> origin
    std::map<std::string, int> origins;           // distinct origins -> their variants serving it
    AlertThresholds strictest;                    // of those origins (cache)
    bool strictest_dirty = true;                  // an origin left, or the configuration changed
    enum class Added { kNo, kVariant, kVariantAndOrigin };
    Added Add(const std::string& identity, const std::string& origin);
    bool Remove(const std::string& identity);  // true if that variant served it
    std::vector<std::string> OriginList() const;  // sorted
  };

  void Persist(const std::string& origin, const std::string& vkey, Variant& v, Commit& c);
  // Rewrites d's bad_gateway / gateway_timeout findings of a front that names
  // its upstream, from the upstream's latest diagnosis (correlate.h).
  void Correlate(const std::string& origin, const Origin& o, Diagnosis& d) const;
  void Serve(const std::string& identity, const std::string& origin, const std::string& old_sha,
             const std::string& new_sha, int64_t now_ms, Commit& c);
  const Serving& ServingOf(const std::string& sha);
  void Expiry(const std::string& sha, int64_t now_ms, bool force, Commit& c);
  void Retire(const std::string& origin, const std::string& vkey, const std::string& reason,
              int64_t now_ms, Commit& c);
  void RetireOrigin(const std::string& origin, int64_t now_ms, Commit& c);
  void Record(AlertEvent e, Commit& c);

  std::shared_ptr<const EvaluatorConfig> config_;
  std::map<std::string, Origin> origins_;
  std::map<std::string, CertExpiryState> certs_;  // by leaf sha256
  std::map<std::string, CertInfo> cert_facts_;    // leaf facts (no DER, no chain) by sha256
  std::map<std::string, Serving> serving_;        // which variants serve each leaf now
  std::map<std::string, EpisodeRecord> episodes_;  // by dedup key
  std::map<std::string, std::string> books_;       // origin -> persisted address book
  Stats stats_;
};

// "variant:<origin>|<VariantKeyOf(spec)>": the key of a variant's state.
std::string VariantIdentity(const std::string& origin, const ProbeSpec& spec);

// The idempotency key of an event: a UUID-shaped SHA-256 of (dedup key,
// episode, kind, update number). Equal inputs give equal ids, across restarts.
std::string DeterministicEventId(const std::string& dedup_key, int64_t episode, std::string_view kind,
                                 int64_t update);

// Runs an Evaluator on its own thread. Engine threads Submit results (never
// blocks; a full queue drops and counts); the main thread submits DNS answers
// and configurations. Each Commit goes to `sink` (Store::Enqueue) in order.
class EvaluatorStage {
 public:
  using Sink = std::function<bool(Commit&&)>;
  struct Options {
    size_t queue_capacity = 65536;
    // Where snapshots of the origins a batch changed go (the HTTP endpoint);
    // nullptr = none are built. Must outlive the stage.
    ViewSink* views = nullptr;
    // Called by the evaluator thread after every turn of its loop, and at
    // least once a second while idle (the agent's liveness beat).
    std::function<void()> on_turn;
  };
  EvaluatorStage(std::unique_ptr<Evaluator> evaluator, Sink sink, Options options);
  ~EvaluatorStage();  // Stop()

  bool Submit(ProbeResult result);  // thread-safe, non-blocking
  void SubmitDns(DnsObservation dns);
  void SubmitConfig(std::shared_ptr<const EvaluatorConfig> config, PlanView plan);
  // Blocks until everything submitted before the call went to the sink.
  void Flush();
  void Stop();  // drains the queue, then joins

  struct Stats {
    uint64_t submitted = 0;
    uint64_t dropped_queue_full = 0;
    uint64_t dropped_by_sink = 0;  // commits the store refused (its queue full)
    uint64_t queue_depth = 0;
  };
  Stats stats() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace originwatch
