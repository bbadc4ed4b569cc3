-- 003_alert_indexes: the alert id lookup by dedup key (closed alerts too) and
-- the retention of the alert tables by time.
CREATE INDEX alerts_key ON alerts (dedup_key);
CREATE INDEX alerts_resolved ON alerts (resolved_ms) WHERE resolved_ms IS NOT NULL;
CREATE INDEX outbox_done ON outbox (done_ms) WHERE done_ms IS NOT NULL;
