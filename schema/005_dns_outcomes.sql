-- 005_dns_outcomes: the DNS outcomes (probe.h, 15..19) by name, and what a
-- probe's name lookup cost (the agent records it with each probe of an origin
-- probed by name).
INSERT OR IGNORE INTO outcome_codes (code, name) VALUES
  (15, 'dns_nxdomain'), (16, 'dns_servfail'), (17, 'dns_timeout'), (18, 'dns_no_address'),
  (19, 'dns_refused');

-- Each distinct answer (addresses, TTL, the server that gave it) is stored once.
CREATE TABLE dns_answers (
  id INTEGER PRIMARY KEY,
  addresses TEXT NOT NULL,       -- sorted, comma-joined
  ttl_ms INTEGER NOT NULL,       -- as clamped by the resolver's floor and ceiling
  resolver TEXT NOT NULL,        -- "127.0.0.1:53", "hosts", "system"
  UNIQUE (addresses, ttl_ms, resolver)
);

ALTER TABLE probes ADD COLUMN dns_ms INTEGER;          -- NULL: the address was given, not looked up
ALTER TABLE probes ADD COLUMN dns_cached INTEGER;      -- 1 when the resolver's cache answered
ALTER TABLE probes ADD COLUMN dns_answer_id INTEGER;   -- dns_answers(id)
