// The probe row of a commit: origins, variants, dictionary texts,
// certificates, chains and the variant's state (schema/001_init.sql).
#include <sqlite3.h>

#include <algorithm>

#include "store/store_impl.h"

namespace originwatch {

using namespace store_internal;  // NOLINT: this component's own helpers

#define kUpdateState                                                                       \
  "UPDATE variant_state SET last_probe_id = ?2, last_ts = ?3, last_outcome = ?4, "          \
  "consecutive_failures = ?7, consecutive_successes = ?8, failing_since = ?9, "             \
  "last_finding_code = ?11, last_finding_summary = ?12 "

Result<sqlite3_stmt*> Store::Impl::Stmt(Sql slot) {
  static constexpr std::string_view kText[kSqlCount] = {
      // kSqlInsertProbe
      "INSERT INTO probes (variant_id, ts, outcome, alert, alert_sent, connect_ms, handshake_ms, "
      "total_ms, version_id, cipher_id, group_id, alpn_id, chain_id, verify_code, "
      "verify_error_id, verify_depth, names_ok, missing_names_id, ocsp, error_id, first_bytes, "
      "dns_ms, dns_cached, dns_answer_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
      "?19, ?20, ?21, ?22, ?23, ?24)",
      // kSqlInsertProbeHttp
      "INSERT INTO probe_http (probe_id, outcome, status, ttfb_ms, server, via, x_cache, location) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
      // kSqlReadState
      "SELECT s.last_probe_id, s.last_ts, s.last_outcome, s.last_ok_probe_id, s.last_ok_ts, "
      "s.consecutive_failures, s.consecutive_successes, s.failing_since, s.last_chain_id, "
      "c.sha256, s.last_finding_code, s.last_finding_summary FROM variant_state s "
      "LEFT JOIN chains ch ON ch.id = s.last_chain_id "
      "LEFT JOIN certificates c ON c.id = ch.leaf_cert_id WHERE s.variant_id = ?1",
      // kSqlWriteState
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
      // kSqlUpdateState + (StateColumns >> 1)
      kUpdateState "WHERE variant_id = ?1",
      kUpdateState ", last_ok_probe_id = ?5, last_ok_ts = ?6 WHERE variant_id = ?1",
      kUpdateState ", last_chain_id = ?10 WHERE variant_id = ?1",
      kUpdateState ", last_ok_probe_id = ?5, last_ok_ts = ?6, last_chain_id = ?10 "
                   "WHERE variant_id = ?1",
      // kSqlUpsertAlertState
      "INSERT INTO alert_state (key, state, updated_ms) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (key) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
      // kSqlDeleteAlertState
      "DELETE FROM alert_state WHERE key = ?1",
      // kSqlUpsertEpisode
      "INSERT INTO alert_episodes (dedup_key, episode, updates) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (dedup_key) DO UPDATE SET episode = excluded.episode, "
      "updates = excluded.updates",
      // kSqlSeenKey
      "UPDATE alerts SET last_seen_ms = max(last_seen_ms, ?2) "
      "WHERE dedup_key = ?1 AND resolved_ms IS NULL",
      // kSqlAlertOrigins
      "UPDATE alerts SET origin = ?2 WHERE dedup_key = ?1 AND resolved_ms IS NULL",
      // kSqlInsertCert
      "INSERT INTO certificates (sha256, der, subject, issuer, common_name, serial, sans, "
      "not_before, not_after, key_type, key_bits, key_curve, sig_alg, self_issued, is_ca, "
      "first_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
      "?16)",
      // kSqlFillDer
      "UPDATE certificates SET der = ?2 WHERE sha256 = ?1 AND length(der) = 0",
  };
  return stmts.Get(slot, kText[slot]);
}

#undef kUpdateState

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
  // The key is built in a reused buffer: a hit allocates nothing.
  std::string& key = key_buf;
  key.assign(reinterpret_cast<const char*>(&origin_id), sizeof origin_id);
  key += spec.address;
  key += '\0';
  if (spec.sni) key += *spec.sni;
  key += '\0';
  key += spec.profile;
  auto it = variant_ids.find(key);
  if (it != variant_ids.end()) return it->second;
  const std::string sni = spec.sni.value_or("");
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
  variant_ids.emplace(key, *id);
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
  if (it != cert_ids.end()) {
    if (Status s = FillDer(c); !s.ok()) return s;
    return it->second;
  }
  auto id = LookupId(raw(), stmts, "SELECT id FROM certificates WHERE sha256 = ?1", {c.sha256_hex});
  if (!id.ok()) return id;
  if (*id != 0) {
    if (Status s = FillDer(c); !s.ok()) return s;
  } else {
    std::string sans = Join(c.dns_names, "\n");
    for (const auto& ip : c.ip_names) {
      if (!sans.empty()) sans += '\n';
      sans += "IP:";
      sans += ip;
    }
    const std::string key_type(KeyTypeName(c.key_type));
    auto stmt = Stmt(kSqlInsertCert);
    if (!stmt.ok()) return stmt.status();
    Binder b(*stmt);
    b.Text(1, c.sha256_hex).Text(3, c.subject).Text(4, c.issuer).Text(5, c.common_name);
    b.Text(6, c.serial_hex).Text(7, sans).Int(8, c.not_before).Int(9, c.not_after);
    b.Text(10, key_type).Int(11, c.key_bits).Text(12, c.key_curve).Text(13, c.signature_algorithm);
    b.Int(14, c.self_issued).Int(15, c.is_ca).Int(16, ts);
    // An empty DER (known_certs.h: the engine believed the row exists, and
    // retention deleted it since) is stored as an empty blob: the column is
    // NOT NULL, and the facts are worth keeping.
    if (sqlite3_bind_blob(*stmt, 2, c.der.empty() ? "" : c.der.data(),
                          static_cast<int>(c.der.size()), SQLITE_STATIC) != SQLITE_OK ||
        !b.ok()) {
      return SqliteError(raw(), "bind certificate");
    }
    if (Status st = StepReset(raw(), *stmt); !st.ok()) return st;
    id = static_cast<int64_t>(sqlite3_last_insert_rowid(raw()));
    if (c.der.empty()) {
      certs_without_der.insert(c.sha256_hex);
      ++batch_certs_without_der;
    } else {
      batch_new_certs.push_back(c.sha256_hex);
    }
  }
  cert_ids.emplace(c.sha256_hex, *id);
  return id;
}

Status Store::Impl::FillDer(const CertInfo& c) {
  if (c.der.empty() || certs_without_der.empty()) return Status::Ok();
  auto it = certs_without_der.find(c.sha256_hex);
  if (it == certs_without_der.end()) return Status::Ok();
  auto stmt = Stmt(kSqlFillDer);
  if (!stmt.ok()) return stmt.status();
  Binder b(*stmt);
  b.Text(1, c.sha256_hex);
  if (sqlite3_bind_blob(*stmt, 2, c.der.data(), static_cast<int>(c.der.size()), SQLITE_STATIC) !=
          SQLITE_OK ||
      !b.ok()) {
    return SqliteError(raw(), "bind certificate");
  }
  if (Status s = StepReset(raw(), *stmt); !s.ok()) return s;
  batch_new_certs.push_back(c.sha256_hex);
  certs_without_der.erase(it);
  return Status::Ok();
}

Result<ChainRef> Store::Impl::Chain(const std::vector<CertInfo>& chain, int64_t ts) {
  std::string& key = key_buf;
  key.clear();
  for (const auto& c : chain) {
    if (!key.empty()) key += ',';
    key += c.sha256_hex;
  }
  auto it = chain_refs.find(key);
  ChainRef ref;
  if (it != chain_refs.end()) {
    ref = it->second;
    if (!certs_without_der.empty()) {
      for (const auto& c : chain) {
        if (Status s = FillDer(c); !s.ok()) return s;
      }
    }
  } else {
    const std::string chain_key = key;  // CertId below reuses key_buf's owner
    auto stmt = stmts.Get(
        "SELECT ch.id, ch.leaf_cert_id, c.sha256 FROM chains ch JOIN certificates c "
        "ON c.id = ch.leaf_cert_id WHERE ch.fingerprints = ?1");
    if (!stmt.ok()) return stmt.status();
    if (!Binder(*stmt).Text(1, chain_key).ok()) return SqliteError(raw(), "bind chain");
    int rc = sqlite3_step(*stmt);
    if (rc == SQLITE_ROW) {
      ref = ChainRef{ColumnInt(*stmt, 0), ColumnInt(*stmt, 1), ColumnText(*stmt, 2)};
      sqlite3_reset(*stmt);
      for (const auto& c : chain) {
        if (Status s = FillDer(c); !s.ok()) return s;
      }
    } else if (rc != SQLITE_DONE) {
      return SqliteError(raw(), "");
    } else {
      sqlite3_reset(*stmt);
      std::vector<int64_t> cert_ids_in_order;
      for (const auto& c : chain) {
        auto id = CertId(c, ts);
        if (!id.ok()) return id.status();
        cert_ids_in_order.push_back(*id);
      }
      Status s = Run(raw(), stmts,
                     "INSERT INTO chains (fingerprints, leaf_cert_id, length, first_seen, "
                     "last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
                     {chain_key, cert_ids_in_order.front(), static_cast<int64_t>(chain.size()), ts});
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
    chain_refs.emplace(chain_key, ref);
  }
  int64_t& seen = chain_last_seen[ref.chain_id];
  seen = std::max(seen, ts);
  return ref;
}

Result<std::optional<VariantState>> Store::Impl::ReadState(int64_t variant_id) {
  auto stmt = Stmt(kSqlReadState);
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* st = *stmt;
  sqlite3_bind_int64(st, 1, variant_id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(st);
    return std::optional<VariantState>();
  }
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

Status Store::Impl::WriteState(CachedState& cs) {
  if (cs.pending == 0) return Status::Ok();
  const VariantState& v = cs.v;
  auto stmt = Stmt(cs.stored ? static_cast<Sql>(kSqlUpdateState + (cs.pending >> 1)) : kSqlWriteState);
  if (!stmt.ok()) return stmt.status();
  Binder b(*stmt);
  b.Int(1, v.variant_id).IdOrNull(2, v.last_probe_id).Int(3, v.last_ts_ms);
  b.Int(4, static_cast<int64_t>(v.last_outcome)).IdOrNull(5, v.last_ok_probe_id);
  b.IdOrNull(6, v.last_ok_ts_ms).Int(7, v.consecutive_failures).Int(8, v.consecutive_successes);
  b.IdOrNull(9, v.failing_since_ms).IdOrNull(10, v.last_chain_id);
  b.TextOrNull(11, v.last_finding_code).TextOrNull(12, v.last_finding_summary);
  if (!b.ok()) return SqliteError(raw(), "bind variant state");
  if (Status s = StepReset(raw(), *stmt); !s.ok()) return s;
  cs.stored = true;
  cs.pending = 0;
  return Status::Ok();
}

Status Store::Impl::WriteDirtyStates() {
  for (int64_t id : dirty_states) {
    auto it = states.find(id);
    if (it == states.end()) continue;
    if (Status s = WriteState(it->second); !s.ok()) return s;
  }
  dirty_states.clear();
  return Status::Ok();
}

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
  auto origin_id = OriginId(r.spec, ts);
  if (!origin_id.ok()) return origin_id.status();
  auto variant_id = VariantId(*origin_id, r.spec, ts);
  if (!variant_id.ok()) return variant_id.status();

  // A chain is stored only when every certificate has a fingerprint (its key).
  bool have_chain = !r.chain.empty();
  for (const auto& c : r.chain) have_chain = have_chain && !c.sha256_hex.empty();
  ChainRef chain;
  if (have_chain) {
    auto ref = Chain(r.chain, ts);
    if (!ref.ok()) return ref.status();
    chain = std::move(ref).value();
  }

  bool names_ok = true;
  std::string missing_text;
  for (const auto& n : r.names) {
    if (n.covered) continue;
    names_ok = false;
    if (!missing_text.empty()) missing_text += ',';
    missing_text += n.name;
  }
  int64_t ids[7];
  const std::string* texts[7] = {&r.version,      &r.cipher,     &r.group,     &r.alpn,
                                 &r.verify_error, &missing_text, &r.error_text};
  for (int i = 0; i < 7; ++i) {
    LastString& last = last_strings[i];
    if (last.id != 0 && last.text == *texts[i]) {
      ids[i] = last.id;
      continue;
    }
    auto id = StringId(*texts[i]);
    if (!id.ok()) return id.status();
    ids[i] = *id;
    if (*id != 0) last = LastString{*texts[i], *id};
  }
  int64_t dns_answer_id = 0;
  if (r.dns_ms >= 0 && !r.dns_addresses.empty()) {
    auto id = DnsAnswerId(r.dns_addresses, r.dns_ttl_ms, r.dns_resolver);
    if (!id.ok()) return id.status();
    dns_answer_id = *id;
  }
  auto stmt = Stmt(kSqlInsertProbe);
  if (!stmt.ok()) return stmt.status();
  Binder b(*stmt);
  b.Int(1, *variant_id).Int(2, ts).Int(3, static_cast<int64_t>(r.outcome));
  b.NullIfNegative(4, r.alert).NullIfNegative(5, r.alert_sent);
  b.NullIfNegative(6, r.connect_ms).NullIfNegative(7, r.handshake_ms).Int(8, r.total_ms);
  b.IdOrNull(9, ids[0]).IdOrNull(10, ids[1]).IdOrNull(11, ids[2]).IdOrNull(12, ids[3]);
  b.IdOrNull(13, chain.chain_id).NullIfNegative(14, r.verify_code).IdOrNull(15, ids[4]);
  if (r.verify_code > 0) {
    b.NullIfNegative(16, r.verify_depth);
  } else {
    b.Null(16);
  }
  if (r.names.empty()) {
    b.Null(17);
  } else {
    b.Int(17, names_ok);
  }
  b.IdOrNull(18, ids[5]).Int(19, r.ocsp_stapled).IdOrNull(20, ids[6]);
  b.TextOrNull(21, r.first_bytes).NullIfNegative(22, r.dns_ms);
  if (r.dns_ms >= 0) {
    b.Int(23, r.dns_cached);
  } else {
    b.Null(23);
  }
  b.IdOrNull(24, dns_answer_id);
  if (!b.ok()) return SqliteError(raw(), "bind probe");
  if (Status s = StepReset(raw(), *stmt); !s.ok()) return s;
  const int64_t probe_id = sqlite3_last_insert_rowid(raw());
  // The HTTP answer (schema/006): a row of its own, only when a request was made.
  if (r.http.outcome != HttpOutcome::kNotRun) {
    auto hs = Stmt(kSqlInsertProbeHttp);
    if (!hs.ok()) return hs.status();
    Binder h(*hs);
    h.Int(1, probe_id).Int(2, static_cast<int64_t>(r.http.outcome));
    if (r.http.status > 0) {
      h.Int(3, r.http.status);
    } else {
      h.Null(3);
    }
    h.NullIfNegative(4, r.http.ttfb_ms).TextOrNull(5, r.http.server).TextOrNull(6, r.http.via);
    h.TextOrNull(7, r.http.x_cache).TextOrNull(8, r.http.location);
    if (!h.ok()) return SqliteError(raw(), "bind probe_http");
    if (Status s = StepReset(raw(), *hs); !s.ok()) return s;
  }

  // The variant's state as this transaction left it: read once, then kept in
  // memory (ClearCaches drops it on every rollback and prune).
  auto st = states.find(*variant_id);
  if (st == states.end()) {
    auto before = ReadState(*variant_id);
    if (!before.ok()) return before.status();
    CachedState cs;
    if (*before) {
      cs.v = std::move(**before);
      cs.stored = true;
    } else {
      cs.v.variant_id = *variant_id;
    }
    st = states.emplace(*variant_id, std::move(cs)).first;
  }
  CachedState& cs = st->second;
  VariantState& a = cs.v;
  // A result older than the variant's newest leaves the state alone.
  if ((cs.stored || cs.pending != 0) && ts < a.last_ts_ms) return Status::Ok();
  const uint8_t was_pending = cs.pending;
  cs.pending |= kStateBase;
  a.last_probe_id = probe_id;
  a.last_ts_ms = ts;
  a.last_outcome = r.outcome;
  if (r.ok()) {
    a.last_ok_probe_id = probe_id;
    a.last_ok_ts_ms = ts;
    cs.pending |= kStateOk;
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
  bool leaf_changed = false;
  std::string old_leaf;
  if (chain.chain_id != 0) {
    if (!a.leaf_sha256.empty() && a.leaf_sha256 != chain.leaf_sha256) {
      leaf_changed = true;
      old_leaf = a.leaf_sha256;
    }
    if (a.last_chain_id != chain.chain_id) cs.pending |= kStateChain;
    a.last_chain_id = chain.chain_id;
    if (leaf_changed || a.leaf_sha256.empty()) a.leaf_sha256 = chain.leaf_sha256;
  }
  if (lead) {
    a.last_finding_code = lead->code;
    a.last_finding_summary = lead->summary;
  }
  if (!defer_states) {
    if (Status s = WriteState(cs); !s.ok()) return s;
  } else if (was_pending == 0) {
    dirty_states.push_back(*variant_id);
  }
  if (leaf_changed) {
    Status s = Run(raw(), stmts,
                   "INSERT INTO leaf_changes (variant_id, ts, old_cert_id, new_cert_id) "
                   "SELECT ?1, ?2, id, ?4 FROM certificates WHERE sha256 = ?3",
                   {*variant_id, ts, old_leaf, chain.leaf_cert_id});
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace originwatch
