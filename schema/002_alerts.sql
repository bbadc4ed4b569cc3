-- 002_alerts: alert lifecycle, the events log, the webhook outbox and the
-- delivery log. An alert event and its outbox rows are written in the same
-- transaction as the probe that raised them (src/store writer), so an alert is
-- never lost and never sent for data that was not saved.

-- Per-variant alert-rule state (alert.h VariantState as JSON), beside the
-- store's own variant_state row.
CREATE TABLE alert_state (
  key TEXT PRIMARY KEY,          -- "variant:<variant_id>", "cert:<sha256>" or "addresses:<origin>"
  state TEXT NOT NULL,           -- JSON; for "addresses:<origin>" the sorted addresses, comma-joined
  updated_ms INTEGER NOT NULL
);

-- One row per alert occurrence: opened when a rule fires, closed when it
-- resolves. At most one open alert per dedup key.
CREATE TABLE alerts (
  id INTEGER PRIMARY KEY,
  dedup_key TEXT NOT NULL,       -- origin|rule|variant, or cert_expiry|sha256
  rule TEXT NOT NULL,
  origin TEXT NOT NULL,          -- for cert_expiry: the origins serving it, comma-separated
  variant TEXT NOT NULL DEFAULT '',
  address TEXT NOT NULL DEFAULT '',
  severity TEXT NOT NULL,        -- info | warning | critical
  opened_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  resolved_ms INTEGER,           -- NULL = open
  finding_code TEXT NOT NULL DEFAULT '',
  summary TEXT NOT NULL DEFAULT '',
  fix TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX alerts_open_key ON alerts (dedup_key) WHERE resolved_ms IS NULL;
CREATE INDEX alerts_opened ON alerts (opened_ms);

-- Every event: firing, resolved, updated (severity changed), event (one-shot,
-- e.g. a certificate change). payload is the webhook body (docs/webhooks.md),
-- built once at commit time so every endpoint gets the same bytes.
CREATE TABLE alert_events (
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE, -- idempotency key sent to receivers
  alert_id INTEGER REFERENCES alerts (id),
  kind TEXT NOT NULL,            -- firing | resolved | updated | event
  rule TEXT NOT NULL,
  severity TEXT NOT NULL,
  origin TEXT NOT NULL,
  tags TEXT NOT NULL DEFAULT '',
  variant TEXT NOT NULL DEFAULT '',
  address TEXT NOT NULL DEFAULT '',
  finding_code TEXT NOT NULL DEFAULT '',
  summary TEXT NOT NULL DEFAULT '',
  fix TEXT NOT NULL DEFAULT '',
  at_ms INTEGER NOT NULL,
  payload TEXT NOT NULL          -- JSON
);
CREATE INDEX alert_events_at ON alert_events (at_ms);

-- One row per (event, matching webhook). The sender delivers pending rows in
-- id order per webhook and marks them delivered or failed; a restart resumes.
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY,
  event_row INTEGER NOT NULL REFERENCES alert_events (id),
  webhook TEXT NOT NULL,         -- [[webhook]] name
  state TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | failed
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  done_ms INTEGER,
  last_error TEXT
);
CREATE INDEX outbox_pending ON outbox (webhook, id) WHERE state = 'pending';

-- Every delivery attempt.
CREATE TABLE deliveries (
  id INTEGER PRIMARY KEY,
  outbox_id INTEGER NOT NULL REFERENCES outbox (id),
  attempt INTEGER NOT NULL,
  at_ms INTEGER NOT NULL,
  http_status INTEGER,           -- NULL when no HTTP answer (timeout, refused)
  error TEXT,
  duration_ms INTEGER NOT NULL
);
CREATE INDEX deliveries_outbox ON deliveries (outbox_id);

CREATE VIEW open_alerts AS
SELECT a.id, a.rule, a.severity, a.origin, a.variant, a.address,
       strftime('%Y-%m-%dT%H:%M:%SZ', a.opened_ms / 1000, 'unixepoch') AS opened,
       strftime('%Y-%m-%dT%H:%M:%SZ', a.last_seen_ms / 1000, 'unixepoch') AS last_seen,
       a.finding_code AS finding, a.summary, a.fix
FROM alerts a
WHERE a.resolved_ms IS NULL
ORDER BY CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, a.opened_ms;
