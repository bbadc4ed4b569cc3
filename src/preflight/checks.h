// Private to src/preflight: one function per kind of check. Each appends what
// it finds to *errors, positioned at the key the problem is about.
#pragma once

#include <string>
#include <vector>

#include "originwatch/config.h"

namespace originwatch::preflight_internal {

// A problem at pos of cfg's file (line 0: without a position).
ConfigError At(const AgentConfig& cfg, SourcePos pos, std::string message);

// The CA file; true when it loads with at least one certificate.
bool CheckCaFile(const AgentConfig& cfg, std::vector<ConfigError>* errors);
// Every profile on its own; true when OpenSSL accepts them all.
bool CheckProfiles(const AgentConfig& cfg, std::vector<ConfigError>* errors);
// Engine::CheckOptions on the whole set, the very check `run` makes: catches
// whatever the two checks above do not model.
void CheckEngineOptions(const AgentConfig& cfg, std::vector<ConfigError>* errors);
// secret_env / secret_file of every webhook, by the sender's rule.
void CheckWebhookSecrets(const AgentConfig& cfg, std::vector<ConfigError>* errors);
// [alerts] and each [origin.alerts] through ApplyOverrides / ValidateThresholds.
void CheckAlertThresholds(const AgentConfig& cfg, std::vector<ConfigError>* errors);
// The database path, as the store checks it before it opens the file.
void CheckDatabase(const AgentConfig& cfg, std::vector<ConfigError>* errors);

}  // namespace originwatch::preflight_internal
