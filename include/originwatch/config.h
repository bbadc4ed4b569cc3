// The agent's configuration: one TOML file, parsed and validated into plain
// values. Every problem is reported with the file, line and column of the
// offending key or value, and all of them are reported at once (except a TOML
// syntax error, which stops parsing and is reported alone).
//
// Nothing here does I/O except LoadConfigFile, which reads one file. The
// result owns no handle; it can be copied and handed to any thread.
// docs/config.md is the reference of every key; configs/originwatch.example.toml
// shows each with its default.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "originwatch/probe.h"

namespace originwatch {

// One problem in a configuration file.
struct ConfigError {
  std::string file;  // the source path given to ParseConfig / LoadConfigFile
  int line = 0;      // 1-based; 0 when the problem has no position (unreadable file, no origin)
  int column = 0;    // 1-based; 0 when line is 0
  std::string message;
  // "file:line:column: message", or "file: message" when line is 0.
  std::string ToString() const;
};

// Where something is in the configuration file, 1-based. line 0: it is not in
// the file (a default).
struct SourcePos {
  int line = 0;
  int column = 0;
};

// Alert thresholds: [alerts] (global) and [origin.alerts] (per origin). Unset
// fields inherit (origin -> global -> built-in defaults of alert.h).
struct AlertSettings {
  std::optional<int> fail_after;                   // 1..1000
  std::optional<int> resolve_after;                // 1..1000
  std::optional<int> expiry_warning_days;          // 0..3650
  std::optional<int> expiry_critical_days;         // 0..3650, <= warning
  std::optional<double> lifetime_warning_fraction;   // (0, 1)
  std::optional<double> lifetime_critical_fraction;  // (0, 1), <= warning
  std::optional<int> downgrade_accept_after_days;  // 0..3650 (0 = never)
  SourcePos pos;  // the [alerts] / [origin.alerts] table; line 0 when the file has none
};

// One [[origin]] table, defaults applied.
struct OriginConfig {
  std::string name;  // unique, [A-Za-z0-9._-]+
  std::string host;  // a DNS name or an IP literal
  uint16_t port = 443;
  std::vector<std::string> connect;  // IP literals to connect to; empty = resolve host
  // SNI variants to probe, in file order; nullopt = no SNI ("none" in the file).
  // Default: {host} when host is a name, {nullopt} when it is an IP (RFC 6066
  // forbids IP literals in SNI).
  std::vector<std::optional<std::string>> sni;
  std::vector<std::string> expect_names;  // default {host} for a name, {} for an IP
  std::vector<std::string> profiles;      // each names an AgentConfig profile; default {"modern"}
  std::vector<std::string> tags;
  AlertSettings alerts;            // [origin.alerts]: overrides of [alerts]
  int64_t interval_ms = 0;         // default: the agent's interval
  int64_t timeout_ms = 0;          // whole probe; default: the agent's timeout
  int64_t connect_timeout_ms = 0;  // min(agent connect_timeout, timeout_ms)
  // Which addresses of the name are probed: "all" (each separately) or
  // "first" (the first after RFC 6724 ordering); of which family: "any",
  // "ipv4", "ipv6". Ignored with `connect`.
  std::string addresses = "all";
  std::string family = "any";
  // `url = "https://host[:port]/path"` (or http://) as written; "" when the
  // origin gives host and port. It sets host, port and the HTTP check's path.
  std::string url;
  // The HTTP request made after each successful handshake (or in plain text
  // for an http:// url): set by `url` or by an `http = { ... }` table; nullopt
  // = handshakes only. An http:// origin has one variant per address: no SNI,
  // profile "modern", no expected names.
  std::optional<HttpCheck> http;
  // `upstream = "NAME"`: the configured origin this one proxies to (a front
  // names its origin). Its findings explain this origin's 502 and 504, and
  // --shard keeps the two on one agent. "" = none.
  std::string upstream;
  SourcePos upstream_pos;          // the upstream value; line 0 when not set
  int line = 0;                    // line of the [[origin]] header, for messages
  int column = 0;                  // column of that header
};

// One [[webhook]] table, defaults applied. Read and validated now; the alert
// component delivers to it.
struct WebhookConfig {
  std::string name;             // unique, [A-Za-z0-9._-]+
  std::string url;              // http:// or https:// URL with a host
  std::string secret_env;       // environment variable holding the HMAC secret; "" = none
  std::string secret_file;      // file holding the HMAC secret, made absolute against the
                                // config file's directory; "" = none (at most one of the two)
  std::string format = "json";  // "json" or "slack"
  int64_t timeout_ms = 5000;    // one delivery attempt
  int64_t max_age_ms = 24LL * 3600 * 1000;  // stop retrying an event older than this
  std::vector<std::string> rules;           // only these rule names; empty = all
  std::vector<std::string> severities;      // only these of info|warning|critical; empty = all
  std::vector<std::string> tags;            // only origins with one of these tags; empty = all
  int line = 0;                             // line of the [[webhook]] header
  int column = 0;                           // column of that header
  SourcePos secret_env_pos;                 // the secret_env key; line 0 when not set
  SourcePos secret_file_pos;                // the secret_file key; line 0 when not set
  // How deliveries are signed when a secret is set: "originwatch"
  // (X-Originwatch-Signature) or "standard-webhooks" (webhook-id,
  // webhook-timestamp, webhook-signature; docs/webhooks.md).
  std::string signing = "originwatch";
};

// One [[alertmanager]] table, defaults applied (docs/alertmanager.md): open
// alerts are posted to {url}/api/v2/alerts and re-sent while open.
struct AlertmanagerConfig {
  std::string name = "alertmanager";  // unique among [[alertmanager]], [A-Za-z0-9._-]+
  std::string url;                    // http:// or https:// base URL (no /api/v2 suffix)
  int64_t timeout_ms = 10000;         // one POST
  int64_t resend_interval_ms = 60000;  // open alerts re-posted this often; endsAt = now + 4x this
  int64_t max_age_ms = 24LL * 3600 * 1000;  // stop retrying a transition older than this
  std::vector<std::string> rules;           // only these rule names; empty = all
  std::vector<std::string> severities;      // only these of info|warning|critical; empty = all
  std::vector<std::string> tags;            // only origins with one of these tags; empty = all
  std::string bearer_token_env;   // Authorization: Bearer from this variable; "" = none
  std::string bearer_token_file;  // ... or from this file (absolute); "" = none
  int line = 0;                   // line of the [[alertmanager]] header
  int column = 0;
};

// Where a [profiles.NAME] table of the file and its keys are (the profiles
// themselves are ClientProfile values, which know nothing of files).
struct ProfileSource {
  std::string name;
  SourcePos table;                        // the [profiles.NAME] table
  std::map<std::string, SourcePos> keys;  // "ciphers" -> where that key is
  // The key's position, else the table's.
  SourcePos KeyOrTable(std::string_view key) const;
};

// The whole file, defaults applied.
struct AgentConfig {
  std::string source_path;  // as given to ParseConfig / LoadConfigFile
  // Relative paths in the file (database, ca_file, webhook secret_file) are
  // resolved against the directory of source_path. ":memory:" is kept as is.
  std::string database = "originwatch.db";
  int64_t interval_ms = 60000;
  int64_t timeout_ms = 10000;
  int64_t connect_timeout_ms = 5000;  // default min(5s, timeout); never above timeout
  int64_t retention_ms = 14LL * 24 * 3600 * 1000;
  // An address leaves an origin's probed set only after it has been absent
  // from every successful DNS answer this long (and from 3 answers in a row).
  int64_t address_retire_after_ms = 3600LL * 1000;
  // DNS: the servers asked ("127.0.0.1:53", "[::1]:53"; empty = the system's
  // resolv.conf and /etc/hosts; when given, only they are asked and /etc/hosts
  // is not read, as nginx's `resolver`), and the bounds put on answers' TTLs.
  std::vector<std::string> resolvers;
  int64_t dns_min_ttl_ms = 30LL * 1000;
  int64_t dns_max_ttl_ms = 3600LL * 1000;
  int max_in_flight = 2000;  // 1..100000
  int max_per_address = 8;   // 1..100000
  int engine_threads = 1;    // 1..64
  std::string ca_file = "/etc/ssl/certs/ca-certificates.crt";
  SourcePos ca_file_pos;   // the ca_file key; line 0 when it is the default
  SourcePos database_pos;  // the database key; line 0 when it is the default
  std::string log_level = "info";  // debug|info|warn|error
  // The HTTP endpoint (/metrics, /healthz, /-/reload, /api/v1/origins, the
  // status page): "" = off. "127.0.0.1:9464" or "[::1]:9464"; "{shard}" may
  // appear in it (substituted by the agent before it binds).
  std::string listen;
  SourcePos listen_pos;             // the listen key; line 0 when unset
  bool metrics_per_variant = true;  // per origin x address x SNI x profile series on /metrics
  bool enable_reload = false;       // POST /-/reload answers 403 unless true
  // BuiltinProfiles() first, then the user's [profiles.NAME] in file order. A
  // user table named like a built-in replaces it in place, keys it does not set
  // keeping the built-in's values. Cipher strings are not checked here: the tls
  // component rejects them at start, and PreflightChecks (preflight.h) before.
  std::vector<ClientProfile> profiles;
  std::vector<ProfileSource> profile_sources;  // one per [profiles.NAME] table, file order
  AlertSettings alerts;                 // [alerts]
  std::vector<OriginConfig> origins;    // file order; at least one
  std::vector<WebhookConfig> webhooks;  // file order
  std::vector<AlertmanagerConfig> alertmanagers;  // [[alertmanager]], file order

  // nullptr when there is none by that name. Linear scans: for setup, not per probe.
  const ClientProfile* FindProfile(std::string_view name) const;
  const OriginConfig* FindOrigin(std::string_view name) const;
  const ProfileSource* FindProfileSource(std::string_view name) const;
};

struct LoadResult {
  std::optional<AgentConfig> config;  // set only when errors is empty
  std::vector<ConfigError> errors;    // all errors found, by line then column
  bool ok() const { return errors.empty(); }
};

// Reads and parses one file. An unreadable file gives one error
// `cannot read "<path>": <strerror>` with line 0.
LoadResult LoadConfigFile(const std::string& path);
// Parses text as if it had been read from source_path (used for messages and to
// resolve relative paths).
LoadResult ParseConfig(std::string_view text, const std::string& source_path);

// A listen address of the HTTP endpoint: an IPv4 literal or a bracketed IPv6
// literal, ':', a port 1..65535 ("127.0.0.1:9464", "[::1]:9464"). On success
// host gets the literal without brackets; otherwise error says why.
bool ParseListenAddress(std::string_view text, std::string* host, uint16_t* port, std::string* error);

// "500ms", "90s", "5m", "1h", "14d" and combinations with units in decreasing
// order ("1m30s", "1h30m"). Returns milliseconds, or nullopt for anything else
// (no unit, unknown unit, sign, spaces, overflow). "0s" gives 0: callers that
// need a positive duration check it.
std::optional<int64_t> ParseDurationMs(std::string_view text);
// The shortest form ParseDurationMs reads back: 90000 -> "1m30s", 0 -> "0s".
std::string FormatDurationMs(int64_t ms);

}  // namespace originwatch
