-- 001_init: origins, variants, certificates, chains, probes, per-variant state
-- and the views people ask most. Embedded into the binary (src/store) and
-- applied in one transaction; PRAGMA user_version = 1 afterwards.
--
-- Conventions: timestamps are unix milliseconds (probes, state, origins) except
-- certificate validity (unix seconds, as in the certificate). Ids are rowids.
-- "No SNI" is stored as sni = '' (an empty host_name is not a valid SNI, RFC
-- 6066 3), never NULL, so UNIQUE(origin_id, address, sni, profile) holds.

-- Stable outcome codes of include/originwatch/probe.h (never renumbered).
CREATE TABLE outcome_codes (
  code INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
INSERT INTO outcome_codes (code, name) VALUES
  (0, 'ok'), (1, 'dns_error'), (2, 'refused'), (3, 'connect_timeout'), (4, 'reset'),
  (5, 'handshake_timeout'), (6, 'tls_alert'), (7, 'not_tls'), (8, 'no_shared_cipher'),
  (9, 'protocol_mismatch'), (10, 'unexpected_eof'), (11, 'too_large'),
  (12, 'network_error'), (13, 'tls_error'), (14, 'internal');

-- Dictionary of repeated short texts (TLS versions, ciphers, groups, ALPN,
-- error texts, verify errors) so that a probe row holds small integers.
CREATE TABLE strings (
  id INTEGER PRIMARY KEY,
  value TEXT NOT NULL UNIQUE
);

CREATE TABLE origins (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  tags TEXT NOT NULL DEFAULT '',  -- comma-separated
  first_seen INTEGER NOT NULL,
  removed_at INTEGER              -- NULL = configured now
);

CREATE TABLE variants (
  id INTEGER PRIMARY KEY,
  origin_id INTEGER NOT NULL REFERENCES origins (id),
  address TEXT NOT NULL,
  sni TEXT NOT NULL,              -- '' = no SNI sent
  profile TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  UNIQUE (origin_id, address, sni, profile)
);

-- One row per certificate fingerprint, whatever served it.
CREATE TABLE certificates (
  id INTEGER PRIMARY KEY,
  sha256 TEXT NOT NULL UNIQUE,    -- lower-case hex
  der BLOB NOT NULL,
  subject TEXT NOT NULL,
  issuer TEXT NOT NULL,
  common_name TEXT NOT NULL,
  serial TEXT NOT NULL,
  sans TEXT NOT NULL,             -- newline-separated: DNS names, then "IP:" addresses
  not_before INTEGER NOT NULL,    -- unix seconds
  not_after INTEGER NOT NULL,     -- unix seconds
  key_type TEXT NOT NULL,
  key_bits INTEGER NOT NULL,
  key_curve TEXT NOT NULL,
  sig_alg TEXT NOT NULL,
  self_issued INTEGER NOT NULL,
  is_ca INTEGER NOT NULL,
  first_seen INTEGER NOT NULL     -- unix ms
);

-- A chain as served, leaf first. fingerprints = the sha256 of each certificate
-- in order, joined by ',' (an exact key, no hash collisions). last_seen is the
-- newest ts of any probe that served it: retention deletes a chain once
-- last_seen is older than the cutoff (no probe can reference it then), which
-- spares an index on probes(chain_id).
CREATE TABLE chains (
  id INTEGER PRIMARY KEY,
  fingerprints TEXT NOT NULL UNIQUE,
  leaf_cert_id INTEGER NOT NULL REFERENCES certificates (id),
  length INTEGER NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);
CREATE INDEX chains_leaf ON chains (leaf_cert_id);
CREATE INDEX chains_last_seen ON chains (last_seen);

CREATE TABLE chain_certs (
  chain_id INTEGER NOT NULL REFERENCES chains (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,      -- 0 = leaf
  cert_id INTEGER NOT NULL REFERENCES certificates (id),
  PRIMARY KEY (chain_id, position)
) WITHOUT ROWID;
CREATE INDEX chain_certs_cert ON chain_certs (cert_id);

-- One row per probe, kept compact: integers, dictionary ids, NULL for absent.
-- chain_id references chains(id) (not declared: see chains.last_seen); the
-- *_id text columns reference strings(id) (not declared: strings are never
-- deleted); outcome is an outcome_codes.code (not declared so that a code
-- appended to probe.h needs no migration to be stored).
CREATE TABLE probes (
  id INTEGER PRIMARY KEY,
  variant_id INTEGER NOT NULL REFERENCES variants (id),
  ts INTEGER NOT NULL,            -- ProbeResult::started_at_ms
  outcome INTEGER NOT NULL,
  alert INTEGER,                  -- TLS alert received, NULL = none
  alert_sent INTEGER,             -- TLS alert we sent, NULL = none
  connect_ms INTEGER,             -- NULL = not connected
  handshake_ms INTEGER,           -- NULL = handshake not finished
  total_ms INTEGER NOT NULL,
  version_id INTEGER,
  cipher_id INTEGER,
  group_id INTEGER,
  alpn_id INTEGER,
  chain_id INTEGER,               -- NULL = no certificate received
  verify_code INTEGER,            -- X509_V_*; 0 = verified; NULL = not verified
  verify_error_id INTEGER,
  verify_depth INTEGER,
  names_ok INTEGER,               -- 1 every expected name covered, 0 not, NULL = none checked
  missing_names_id INTEGER,       -- the expected names not covered, joined by ','
  ocsp INTEGER NOT NULL,          -- 1 = OCSP response stapled
  error_id INTEGER,               -- error text, NULL = none
  first_bytes TEXT                -- excerpt when the port spoke something else than TLS
);
CREATE INDEX probes_variant_ts ON probes (variant_id, ts);
CREATE INDEX probes_ts ON probes (ts);

-- Per variant: the newest probe and the current run, written in the same
-- transaction as each probe.
CREATE TABLE variant_state (
  variant_id INTEGER PRIMARY KEY REFERENCES variants (id),
  last_probe_id INTEGER REFERENCES probes (id) ON DELETE SET NULL,
  last_ts INTEGER NOT NULL,
  last_outcome INTEGER NOT NULL,
  last_ok_probe_id INTEGER REFERENCES probes (id) ON DELETE SET NULL,
  last_ok_ts INTEGER,
  consecutive_failures INTEGER NOT NULL,
  consecutive_successes INTEGER NOT NULL,
  failing_since INTEGER,          -- ts of the first failure of the current run
  last_chain_id INTEGER REFERENCES chains (id) ON DELETE SET NULL,
  last_finding_code TEXT,
  last_finding_summary TEXT
);
CREATE INDEX variant_state_last_probe ON variant_state (last_probe_id);
CREATE INDEX variant_state_last_ok_probe ON variant_state (last_ok_probe_id);
CREATE INDEX variant_state_last_chain ON variant_state (last_chain_id);

-- Every change of a variant's leaf certificate (written by the store when a
-- probe's leaf differs from the variant's previous one).
CREATE TABLE leaf_changes (
  id INTEGER PRIMARY KEY,
  variant_id INTEGER NOT NULL REFERENCES variants (id),
  ts INTEGER NOT NULL,
  old_cert_id INTEGER NOT NULL REFERENCES certificates (id),
  new_cert_id INTEGER NOT NULL REFERENCES certificates (id)
);
CREATE INDEX leaf_changes_variant_ts ON leaf_changes (variant_id, ts);
CREATE INDEX leaf_changes_ts ON leaf_changes (ts);
CREATE INDEX leaf_changes_old ON leaf_changes (old_cert_id);
CREATE INDEX leaf_changes_new ON leaf_changes (new_cert_id);

-- Views. Only configured origins (removed_at IS NULL) appear in latest,
-- expiring and failing; cert_changes is history and keeps removed ones.
-- days_left = floor((not_after - now) / 1 day) against SQLite's 'now'.

CREATE VIEW latest AS
SELECT o.name AS origin,
       v.address AS address,
       CASE v.sni WHEN '' THEN '(none)' ELSE v.sni END AS sni,
       v.profile AS profile,
       strftime('%Y-%m-%dT%H:%M:%fZ', p.ts / 1000.0, 'unixepoch') AS ts,
       COALESCE(oc.name, CAST(p.outcome AS TEXT)) AS outcome,
       p.alert AS alert,
       sv.value AS version,
       sc.value AS cipher,
       c.subject AS leaf_subject,
       (c.not_after - unixepoch()) / 86400 - ((c.not_after - unixepoch()) % 86400 < 0) AS days_left,
       CASE WHEN p.verify_code IS NULL THEN NULL
            WHEN p.verify_code = 0 THEN 'ok'
            ELSE COALESCE(sve.value, 'error ' || p.verify_code) END AS verify,
       se.value AS error
FROM variant_state s
JOIN probes p ON p.id = s.last_probe_id
JOIN variants v ON v.id = s.variant_id
JOIN origins o ON o.id = v.origin_id
LEFT JOIN outcome_codes oc ON oc.code = p.outcome
LEFT JOIN strings sv ON sv.id = p.version_id
LEFT JOIN strings sc ON sc.id = p.cipher_id
LEFT JOIN strings sve ON sve.id = p.verify_error_id
LEFT JOIN strings se ON se.id = p.error_id
LEFT JOIN chains ch ON ch.id = p.chain_id
LEFT JOIN certificates c ON c.id = ch.leaf_cert_id
WHERE o.removed_at IS NULL
ORDER BY o.name, v.address, v.sni, v.profile;

-- Leaf certificates currently served: the last chain each configured variant
-- served (kept while the variant fails, so an outage does not hide an expiry).
CREATE VIEW expiring AS
SELECT c.common_name AS common_name,
       c.subject AS subject,
       strftime('%Y-%m-%dT%H:%M:%SZ', c.not_after, 'unixepoch') AS not_after,
       (c.not_after - unixepoch()) / 86400 - ((c.not_after - unixepoch()) % 86400 < 0) AS days_left,
       group_concat(x.origin, ', ') AS origins,
       sum(x.n) AS variants,
       c.sha256 AS sha256
FROM (SELECT ch.leaf_cert_id AS cert_id, o.name AS origin, count(*) AS n
      FROM variant_state s
      JOIN chains ch ON ch.id = s.last_chain_id
      JOIN variants v ON v.id = s.variant_id
      JOIN origins o ON o.id = v.origin_id
      WHERE o.removed_at IS NULL
      GROUP BY ch.leaf_cert_id, o.name
      ORDER BY o.name) x
JOIN certificates c ON c.id = x.cert_id
GROUP BY c.id
ORDER BY c.not_after, c.sha256;

CREATE VIEW cert_changes AS
SELECT o.name AS origin,
       v.address AS address,
       CASE v.sni WHEN '' THEN '(none)' ELSE v.sni END AS sni,
       v.profile AS profile,
       strftime('%Y-%m-%dT%H:%M:%fZ', lc.ts / 1000.0, 'unixepoch') AS ts,
       old.sha256 AS old_sha256,
       new.sha256 AS new_sha256,
       old.subject AS old_subject,
       new.subject AS new_subject,
       strftime('%Y-%m-%dT%H:%M:%SZ', old.not_after, 'unixepoch') AS old_not_after,
       strftime('%Y-%m-%dT%H:%M:%SZ', new.not_after, 'unixepoch') AS new_not_after
FROM leaf_changes lc
JOIN variants v ON v.id = lc.variant_id
JOIN origins o ON o.id = v.origin_id
JOIN certificates old ON old.id = lc.old_cert_id
JOIN certificates new ON new.id = lc.new_cert_id
ORDER BY lc.ts DESC, lc.id DESC;

CREATE VIEW failing AS
SELECT o.name AS origin,
       v.address AS address,
       CASE v.sni WHEN '' THEN '(none)' ELSE v.sni END AS sni,
       v.profile AS profile,
       strftime('%Y-%m-%dT%H:%M:%fZ', s.failing_since / 1000.0, 'unixepoch') AS since,
       s.consecutive_failures AS failures,
       COALESCE(oc.name, CAST(s.last_outcome AS TEXT)) AS outcome,
       p.alert AS alert,
       se.value AS error,
       s.last_finding_code AS finding,
       s.last_finding_summary AS summary
FROM variant_state s
JOIN variants v ON v.id = s.variant_id
JOIN origins o ON o.id = v.origin_id
LEFT JOIN probes p ON p.id = s.last_probe_id
LEFT JOIN outcome_codes oc ON oc.code = s.last_outcome
LEFT JOIN strings se ON se.id = p.error_id
WHERE s.last_outcome != 0 AND o.removed_at IS NULL
ORDER BY s.failing_since, o.name, v.address, v.sni, v.profile;
