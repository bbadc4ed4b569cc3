-- 004_event_ids: deterministic event ids and state keyed by identity.
--
-- An event id is derived from the alert's key, its episode (a per-key firing
-- counter, kept here, never reused) and the kind, so a transition raised again
-- after a crash carries the id a receiver has already seen.
CREATE TABLE alert_episodes (
  dedup_key TEXT PRIMARY KEY,
  episode INTEGER NOT NULL,      -- firings (and one-shot events) of this key so far
  updates INTEGER NOT NULL DEFAULT 0  -- severity changes within the current episode
);
INSERT INTO alert_episodes (dedup_key, episode, updates)
SELECT dedup_key, COUNT(*), 0 FROM alerts GROUP BY dedup_key;

-- Variant states were keyed by the store's rowid ("variant:<id>"); the
-- evaluator keys them by identity ("variant:<origin>|<address:port>|sni|profile"),
-- which the state itself records.
UPDATE alert_state
SET key = 'variant:' || json_extract(state, '$.origin') || '|' || json_extract(state, '$.variant_key')
WHERE key LIKE 'variant:%' AND json_valid(state)
  AND json_extract(state, '$.origin') IS NOT NULL AND json_extract(state, '$.variant_key') IS NOT NULL;
