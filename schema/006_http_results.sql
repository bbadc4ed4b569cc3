-- 006_http_results: the HTTP check's answer of a probe (probe.h HttpResult),
-- and the status in the `latest` view (NULL for a probe that asked no HTTP
-- check or made no request: the handshake failed).
CREATE TABLE http_outcome_codes (
  code INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
INSERT INTO http_outcome_codes (code, name) VALUES
  (0, 'not_run'), (1, 'ok'), (2, 'timeout'), (3, 'not_http'), (4, 'closed'), (5, 'too_large'),
  (6, 'error');

-- One row per probe that made an HTTP request, keyed by the probe: a probe
-- without an HTTP check (most of them) costs no byte here nor in `probes`.
-- Retention deletes these rows with their probe (ON DELETE CASCADE).
CREATE TABLE probe_http (
  probe_id INTEGER PRIMARY KEY REFERENCES probes(id) ON DELETE CASCADE,
  outcome INTEGER NOT NULL,  -- http_outcome_codes.code
  status INTEGER,            -- NULL: no status line read
  ttfb_ms INTEGER,           -- request sent -> first response byte
  server TEXT,               -- response headers, as received (each at most 256 bytes)
  via TEXT,
  x_cache TEXT,
  location TEXT
);

-- `latest` gains the HTTP status and outcome, after its earlier columns.
DROP VIEW latest;
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
       se.value AS error,
       ph.status AS http_status,
       COALESCE(hc.name, CAST(ph.outcome AS TEXT)) AS http
FROM variant_state s
JOIN probes p ON p.id = s.last_probe_id
JOIN variants v ON v.id = s.variant_id
JOIN origins o ON o.id = v.origin_id
LEFT JOIN outcome_codes oc ON oc.code = p.outcome
LEFT JOIN probe_http ph ON ph.probe_id = p.id
LEFT JOIN http_outcome_codes hc ON hc.code = ph.outcome
LEFT JOIN strings sv ON sv.id = p.version_id
LEFT JOIN strings sc ON sc.id = p.cipher_id
LEFT JOIN strings sve ON sve.id = p.verify_error_id
LEFT JOIN strings se ON se.id = p.error_id
LEFT JOIN chains ch ON ch.id = p.chain_id
LEFT JOIN certificates c ON c.id = ch.leaf_cert_id
WHERE o.removed_at IS NULL
ORDER BY o.name, v.address, v.sni, v.profile;
