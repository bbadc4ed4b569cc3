// The probe row of a commit: origins, variants, dictionary texts,
// certificates, chains and the variant's state (schema/001_init.sql).
#include <sqlite3.h>

#include "store/store_impl.h"

namespace originwatch {

using namespace store_internal;  // NOLINT: this component's own helpers

Result<int64_t> Store::Impl::OriginId(const ProbeSpec& spec, int64_t ts) {
  auto it = origin_ids.find(spec.origin);
  if (it != origin_ids.end()) return it->second;
  auto id = LookupId(raw(), stmts, "SELECT id FROM origins WHERE name = ?1", {spec.origin});
  if (!id.ok()) return id;
  if (*id == 0) {
    // A probe of an origin SyncOrigins never saw (`originwatch probe`).
    Status s = Run(raw(), stmts,
                   "INSERT INTO origins (name, host, port, first_seen) VALUES (?1, ?2, ?3, ?4)",
                   {spec.origin, spec.host, int64_t{spec.port}, ts});
    if (!s.ok()) return s;
    id = static_cast<int64_t>(sqlite3_last_insert_rowid(raw()));
  }
  origin_ids.emplace(spec.origin, *id);
  return id;
}

Result<int64_t> Store::Impl::VariantId(int64_t origin_id, const ProbeSpec& spec, int64_t ts) {
  const std::string sni = spec.sni.value_or("");
  std::string key = std::to_string(origin_id);
  key += '\0';
  key += spec.address;
  key += '\0';
  key += sni;
  key += '\0';
  key += spec.profile;
  auto it = variant_ids.find(key);
  if (it != variant_ids.end()) return it->second;
  auto id = LookupId(raw(), stmts,
                     "SELECT id FROM variants WHERE origin_id = ?1 AND address = ?2 AND sni = ?3 "
                     "AND profile = ?4",
                     {origin_id, spec.address, sni, spec.profile});
  if (!id.ok()) return id;
  if (*id == 0) {
    Status s = Run(raw(), stmts,
                   "INSERT INTO variants (origin_id, address, sni, profile, first_seen) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                   {origin_id, spec.address, sni, spec.profile, ts});
    if (!s.ok()) return s;
    id = static_cast<int64_t>(sqlite3_last_insert_rowid(raw()));
  }
  variant_ids.emplace(std::move(key), *id);
  return id;
}

Result<int64_t> Store::Impl::DnsAnswerId(const std::string& addresses, int64_t ttl_ms,
                                         const std::string& resolver) {
  std::string key = addresses;
  key += '\0';
  key += std::to_string(ttl_ms);
  key += '\0';
  key += resolver;
  auto it = dns_answer_ids.find(key);
  if (it != dns_answer_ids.end()) return it->second;
  auto id = LookupId(raw(), stmts,
                     "SELECT id FROM dns_answers WHERE addresses = ?1 AND ttl_ms = ?2 AND resolver = ?3",
                     {addresses, ttl_ms, resolver});
  if (!id.ok()) return id;
  if (*id == 0) {
    Status s = Run(raw(), stmts, "INSERT INTO dns_answers (addresses, ttl_ms, resolver) VALUES (?1, ?2, ?3)",
                   {addresses, ttl_ms, resolver});
    if (!s.ok()) return s;
    id = static_cast<int64_t>(sqlite3_last_insert_rowid(raw()));
  }
  if (dns_answer_ids.size() >= kStringCacheMax) dns_answer_ids.clear();
  dns_answer_ids.emplace(std::move(key), *id);
  return id;
}

Result<int64_t> Store::Impl::StringId(const std::string& text) {
  if (text.empty()) return int64_t{0};
  auto it = string_ids.find(text);
  if (it != string_ids.end()) return it->second;
  auto id = LookupId(raw(), stmts, "SELECT id FROM strings WHERE value = ?1", {text});
  if (!id.ok()) return id;
  if (*id == 0) {
    Status s = Run(raw(), stmts, "INSERT INTO strings (value) VALUES (?1)", {text});
    if (!s.ok()) return s;
    id = static_cast<int64_t>(sqlite3_last_insert_rowid(raw()));
  }
  if (string_ids.size() >= kStringCacheMax) string_ids.clear();
  string_ids.emplace(text, *id);
  return id;
}

Result<int64_t> Store::Impl::CertId(const CertInfo& c, int64_t ts) {
  auto it = cert_ids.find(c.sha256_hex);
  if (it != cert_ids.end()) return it->second;
  auto id = LookupId(raw(), stmts, "SELECT id FROM certificates WHERE sha256 = ?1", {c.sha256_hex});
  if (!id.ok()) return id;
  if (*id == 0) {
    std::vector<std::string> sans = c.dns_names;
    for (const auto& ip : c.ip_names) sans.push_back("IP:" + ip);
    auto stmt = stmts.Get(
        "INSERT INTO certificates (sha256, der, subject, issuer, common_name, serial, sans, "
        "not_before, not_after, key_type, key_bits, key_curve, sig_alg, self_issued, is_ca, "
        "first_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
        "?16)");
    if (!stmt.ok()) return stmt.status();
    Status s = store_internal::BindAll(
        raw(), *stmt,
        {c.sha256_hex, nullptr, c.subject, c.issuer, c.common_name, c.serial_hex, Join(sans, "\n"),
         c.not_before, c.not_after, std::string(KeyTypeName(c.key_type)), int64_t{c.key_bits},
         c.key_curve, c.signature_algorithm, int64_t{c.self_issued}, int64_t{c.is_ca}, ts});
    if (!s.ok()) return s;
    if (sqlite3_bind_blob(*stmt, 2, c.der.data(), static_cast<int>(c.der.size()), SQLITE_STATIC) !=
        SQLITE_OK) {
      return SqliteError(raw(), "bind der");
    }
    if (Status st = StepDone(raw(), *stmt); !st.ok()) return st;
    id = static_cast<int64_t>(sqlite3_last_insert_rowid(raw()));
  }
  cert_ids.emplace(c.sha256_hex, *id);
  return id;
}

Result<ChainRef> Store::Impl::Chain(const std::vector<CertInfo>& chain, int64_t ts) {
  std::string key;
  for (const auto& c : chain) {
    if (!key.empty()) key += ',';
    key += c.sha256_hex;
  }
  auto it = chain_refs.find(key);
  ChainRef ref;
  if (it != chain_refs.end()) {
    ref = it->second;
  } else {
    auto stmt = stmts.Get(
        "SELECT ch.id, ch.leaf_cert_id, c.sha256 FROM chains ch JOIN certificates c "
        "ON c.id = ch.leaf_cert_id WHERE ch.fingerprints = ?1");
    if (!stmt.ok()) return stmt.status();
    if (Status s = store_internal::BindAll(raw(), *stmt, {key}); !s.ok()) return s;
    int rc = sqlite3_step(*stmt);
    if (rc == SQLITE_ROW) {
      ref = ChainRef{ColumnInt(*stmt, 0), ColumnInt(*stmt, 1), ColumnText(*stmt, 2)};
      sqlite3_reset(*stmt);
    } else if (rc != SQLITE_DONE) {
      return SqliteError(raw(), "");
    } else {
      std::vector<int64_t> cert_ids_in_order;
      for (const auto& c : chain) {
        auto id = CertId(c, ts);
        if (!id.ok()) return id.status();
        cert_ids_in_order.push_back(*id);
      }
      Status s = Run(raw(), stmts,
                     "INSERT INTO chains (fingerprints, leaf_cert_id, length, first_seen, "
                     "last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
                     {key, cert_ids_in_order.front(), static_cast<int64_t>(chain.size()), ts});
      if (!s.ok()) return s;
      ref.chain_id = sqlite3_last_insert_rowid(raw());
      ref.leaf_cert_id = cert_ids_in_order.front();
      ref.leaf_sha256 = chain.front().sha256_hex;
      for (size_t i = 0; i < cert_ids_in_order.size(); ++i) {
        s = Run(raw(), stmts,
                "INSERT INTO chain_certs (chain_id, position, cert_id) VALUES (?1, ?2, ?3)",
                {ref.chain_id, static_cast<int64_t>(i), cert_ids_in_order[i]});
        if (!s.ok()) return s;
      }
    }
    chain_refs.emplace(std::move(key), ref);
  }
  int64_t& seen = chain_last_seen[ref.chain_id];
  seen = std::max(seen, ts);
  return ref;
}

Result<std::optional<VariantState>> Store::Impl::ReadState(int64_t variant_id) {
  auto stmt = stmts.Get(
      "SELECT s.last_probe_id, s.last_ts, s.last_outcome, s.last_ok_probe_id, s.last_ok_ts, "
      "s.consecutive_failures, s.consecutive_successes, s.failing_since, s.last_chain_id, "
      "c.sha256, s.last_finding_code, s.last_finding_summary FROM variant_state s "
      "LEFT JOIN chains ch ON ch.id = s.last_chain_id "
      "LEFT JOIN certificates c ON c.id = ch.leaf_cert_id WHERE s.variant_id = ?1");
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* st = *stmt;
  sqlite3_bind_int64(st, 1, variant_id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return std::optional<VariantState>();
  if (rc != SQLITE_ROW) return SqliteError(raw(), "");
  VariantState v;
  v.variant_id = variant_id;
  v.last_probe_id = ColumnInt(st, 0);
  v.last_ts_ms = ColumnInt(st, 1);
  v.last_outcome = static_cast<Outcome>(ColumnInt(st, 2));
  v.last_ok_probe_id = ColumnInt(st, 3);
  v.last_ok_ts_ms = ColumnInt(st, 4);
  v.consecutive_failures = ColumnInt(st, 5);
  v.consecutive_successes = ColumnInt(st, 6);
  v.failing_since_ms = ColumnInt(st, 7);
  v.last_chain_id = ColumnInt(st, 8);
  v.leaf_sha256 = ColumnText(st, 9);
  v.last_finding_code = ColumnText(st, 10);
  v.last_finding_summary = ColumnText(st, 11);
  sqlite3_reset(st);
  return std::optional<VariantState>(std::move(v));
}

Status Store::Impl::WriteState(const VariantState& v) {
  return Run(
      raw(), stmts,
      "INSERT INTO variant_state (variant_id, last_probe_id, last_ts, last_outcome, "
      "last_ok_probe_id, last_ok_ts, consecutive_failures, consecutive_successes, "
      "failing_since, last_chain_id, last_finding_code, last_finding_summary) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
      "ON CONFLICT (variant_id) DO UPDATE SET last_probe_id = excluded.last_probe_id, "
      "last_ts = excluded.last_ts, last_outcome = excluded.last_outcome, "
      "last_ok_probe_id = excluded.last_ok_probe_id, last_ok_ts = excluded.last_ok_ts, "
      "consecutive_failures = excluded.consecutive_failures, "
      "consecutive_successes = excluded.consecutive_successes, "
      "failing_since = excluded.failing_since, last_chain_id = excluded.last_chain_id, "
      "last_finding_code = excluded.last_finding_code, "
      "last_finding_summary = excluded.last_finding_summary",
      {v.variant_id, IdOrNull(v.last_probe_id), v.last_ts_ms, static_cast<int64_t>(v.last_outcome),
       IdOrNull(v.last_ok_probe_id), IdOrNull(v.last_ok_ts_ms), v.consecutive_failures,
       v.consecutive_successes, IdOrNull(v.failing_since_ms), IdOrNull(v.last_chain_id),
       TextOrNull(v.last_finding_code), TextOrNull(v.last_finding_summary)});
}

namespace {

// What WriteProbe did, for its own bookkeeping.
struct Written {
  int64_t probe_id = 0;
  int64_t variant_id = 0;
  int64_t origin_id = 0;
  int64_t chain_id = 0;
  std::optional<VariantState> before;  // nullopt: the variant's first probe
  VariantState after;
  bool state_advanced = true;  // false for a result older than the newest stored
  bool leaf_changed = false;
  std::string old_leaf_sha256;
};

}  // namespace

Status Store::Impl::WriteItem(Item& item) {
  const Commit& c = item.commit;
  if (c.probe) {
    if (Status s = WriteProbe(*c.probe, c.lead, c.counts); !s.ok()) return s;
  }
  return WriteAlerts(c);
}

Status Store::Impl::WriteProbe(const ProbeResult& r, const std::optional<FindingRecord>& lead,
                               const std::optional<VariantCounts>& counts) {
  const int64_t ts = r.started_at_ms;
  Written w;
  auto origin_id = OriginId(r.spec, ts);
  if (!origin_id.ok()) return origin_id.status();
  w.origin_id = *origin_id;
  auto variant_id = VariantId(w.origin_id, r.spec, ts);
  if (!variant_id.ok()) return variant_id.status();
  w.variant_id = *variant_id;

  // A chain is stored only when every certificate has a fingerprint (its key).
  bool have_chain = !r.chain.empty();
  for (const auto& c : r.chain) have_chain = have_chain && !c.sha256_hex.empty();
  ChainRef chain;
  if (have_chain) {
    auto ref = Chain(r.chain, ts);
    if (!ref.ok()) return ref.status();
    chain = std::move(ref).value();
  }
  w.chain_id = chain.chain_id;

  std::vector<std::string> missing;
  for (const auto& n : r.names) {
    if (!n.covered) missing.push_back(n.name);
  }
  int64_t ids[7];
  const std::string missing_text = Join(missing, ",");
  const std::string* texts[7] = {&r.version,      &r.cipher,     &r.group,     &r.alpn,
                                 &r.verify_error, &missing_text, &r.error_text};
  for (int i = 0; i < 7; ++i) {
    auto id = StringId(*texts[i]);
    if (!id.ok()) return id.status();
    ids[i] = *id;
  }
  int64_t dns_answer_id = 0;
  if (r.dns_ms >= 0 && !r.dns_addresses.empty()) {
    auto id = DnsAnswerId(r.dns_addresses, r.dns_ttl_ms, r.dns_resolver);
    if (!id.ok()) return id.status();
    dns_answer_id = *id;
  }
  Status s = Run(
      raw(), stmts,
      "INSERT INTO probes (variant_id, ts, outcome, alert, alert_sent, connect_ms, handshake_ms, "
      "total_ms, version_id, cipher_id, group_id, alpn_id, chain_id, verify_code, "
      "verify_error_id, verify_depth, names_ok, missing_names_id, ocsp, error_id, first_bytes, "
      "dns_ms, dns_cached, dns_answer_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
      "?19, ?20, ?21, ?22, ?23, ?24)",
      {w.variant_id,
       ts,
       static_cast<int64_t>(r.outcome),
       NullIfNegative(r.alert),
       NullIfNegative(r.alert_sent),
       NullIfNegative(r.connect_ms),
       NullIfNegative(r.handshake_ms),
       r.total_ms,
       IdOrNull(ids[0]),
       IdOrNull(ids[1]),
       IdOrNull(ids[2]),
       IdOrNull(ids[3]),
       IdOrNull(chain.chain_id),
       NullIfNegative(r.verify_code),
       IdOrNull(ids[4]),
       r.verify_code > 0 ? NullIfNegative(r.verify_depth) : SqlValue(nullptr),
       r.names.empty() ? SqlValue(nullptr) : SqlValue(int64_t{missing.empty()}),
       IdOrNull(ids[5]),
       int64_t{r.ocsp_stapled},
       IdOrNull(ids[6]),
       TextOrNull(r.first_bytes),
       NullIfNegative(r.dns_ms),
       r.dns_ms >= 0 ? SqlValue(int64_t{r.dns_cached}) : SqlValue(nullptr),
       IdOrNull(dns_answer_id)});
  if (!s.ok()) return s;
  w.probe_id = sqlite3_last_insert_rowid(raw());

  auto before = ReadState(w.variant_id);
  if (!before.ok()) return before.status();
  w.before = std::move(before).value();
  w.state_advanced = !w.before || ts >= w.before->last_ts_ms;
  if (w.before) {
    w.after = *w.before;
  } else {
    w.after.variant_id = w.variant_id;
  }
  if (w.state_advanced) {
    VariantState& a = w.after;
    a.last_probe_id = w.probe_id;
    a.last_ts_ms = ts;
    a.last_outcome = r.outcome;
    if (r.ok()) {
      a.last_ok_probe_id = w.probe_id;
      a.last_ok_ts_ms = ts;
      a.consecutive_successes += 1;
      a.consecutive_failures = 0;
      a.failing_since_ms = 0;
    } else {
      if (a.consecutive_failures == 0 || a.failing_since_ms == 0) a.failing_since_ms = ts;
      a.consecutive_failures += 1;
      a.consecutive_successes = 0;
    }
    if (counts) {  // the evaluator's counts: one state machine counts failures
      a.consecutive_failures = counts->consecutive_failures;
      a.consecutive_successes = counts->consecutive_successes;
      a.failing_since_ms = counts->failing_since_ms;
    }
    if (chain.chain_id != 0) {
      if (!a.leaf_sha256.empty() && a.leaf_sha256 != chain.leaf_sha256) {
        w.leaf_changed = true;
        w.old_leaf_sha256 = a.leaf_sha256;
      }
      a.last_chain_id = chain.chain_id;
      a.leaf_sha256 = chain.leaf_sha256;
    }
    if (lead) {
      a.last_finding_code = lead->code;
      a.last_finding_summary = lead->summary;
    }
    if (s = WriteState(a); !s.ok()) return s;
    if (w.leaf_changed) {
      s = Run(raw(), stmts,
              "INSERT INTO leaf_changes (variant_id, ts, old_cert_id, new_cert_id) "
              "SELECT ?1, ?2, id, ?4 FROM certificates WHERE sha256 = ?3",
              {w.variant_id, ts, w.old_leaf_sha256, chain.leaf_cert_id});
      if (!s.ok()) return s;
    }
  }

  return Status::Ok();
}

}  // namespace originwatch
