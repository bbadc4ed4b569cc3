// Preflight: the checks `originwatch run` makes before it starts, made on a
// parsed configuration without starting anything, so that
// `originwatch check-config` (the systemd unit's ExecStartPre gate) fails
// whenever `run` would refuse the same file, and lists every problem at once.
//
// What it checks (docs/config.md, "What check-config checks"):
//   - the CA file (ca_file or the default bundle) exists, is a regular file,
//     loads, and holds at least one certificate;
//   - OpenSSL accepts every client profile (versions, ciphers, ciphersuites,
//     groups, ALPN), each profile on its own, so every bad profile is named;
//     then, when those pass, Engine::CheckOptions itself;
//   - each webhook's secret resolves as the webhook sender resolves it:
//     secret_env names a set, non-empty environment variable; secret_file is
//     readable and not empty;
//   - the alert thresholds are consistent: [alerts] over the built-in
//     defaults, and each origin's [origin.alerts] over [alerts];
//   - the database can be opened for writing: its directory exists and is
//     writable, and an existing file is writable.
// Problems of the file itself (syntax, types, unknown keys) are ParseConfig's;
// this runs on a config that parsed.
//
// I/O: reads the CA file, the secret files and the environment, and looks at
// the database path (stat, access). Creates and writes nothing. Any thread may
// call it, but the environment must not change meanwhile (getenv).
#pragma once

#include <vector>

#include "originwatch/config.h"

namespace originwatch {

// Every problem found, sorted like LoadResult::errors (by line then column,
// those without a position last). Each names where (the offending key, else
// the table, else line 0) and what, e.g.
//   conf.toml:7:1: profile "bad": OpenSSL rejects ciphers "NOT-A-CIPHER": ...
// Empty: nothing in the configuration stops `run` from starting. A secret's
// value never appears in a message.
std::vector<ConfigError> PreflightChecks(const AgentConfig& config);

}  // namespace originwatch
