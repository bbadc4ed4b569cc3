// PreflightChecks (include/originwatch/preflight.h): runs every check, then
// sorts what they found like the parser sorts its errors. The alert thresholds
// and the database path are checked here; TLS in tls_checks.cc, webhook
// secrets in secrets.cc.
#include "originwatch/preflight.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "originwatch/alert.h"
#include "preflight/checks.h"

namespace originwatch {
namespace preflight_internal {
namespace {

bool AnySet(const AlertSettings& s) {
  return s.fail_after || s.resolve_after || s.expiry_warning_days || s.expiry_critical_days ||
         s.lifetime_warning_fraction || s.lifetime_critical_fraction ||
         s.downgrade_accept_after_days;
}

// "/var/lib/x.db" -> "/var/lib"; "x.db" -> "."; as the store splits it.
std::string ParentDir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

ConfigError At(const AgentConfig& cfg, SourcePos pos, std::string message) {
  if (pos.line <= 0) pos = {};
  return {cfg.source_path, pos.line, pos.column, std::move(message)};
}

void CheckAlertThresholds(const AgentConfig& cfg, std::vector<ConfigError>* errors) {
  // The agent builds the thresholds the same way (global over the built-in
  // defaults, each origin over the global) and refuses to start on the first
  // inconsistent set.
  const AlertThresholds global = ApplyOverrides(AlertThresholds{}, cfg.alerts);
  const Status global_status = ValidateThresholds(global);
  if (!global_status.ok()) {
    errors->push_back(At(cfg, cfg.alerts.pos, "[alerts]: " + global_status.message()));
  }
  for (const OriginConfig& o : cfg.origins) {
    if (!AnySet(o.alerts)) continue;
    const AlertThresholds t = ApplyOverrides(global, o.alerts);
    Status s = ValidateThresholds(t);
    // The same complaint as [alerts]'s is that table's problem, reported once.
    if (!s.ok() && !(!global_status.ok() && s.message() == global_status.message())) {
      const SourcePos pos = o.alerts.pos.line > 0 ? o.alerts.pos : SourcePos{o.line, o.column};
      errors->push_back(
          At(cfg, pos, "origin \"" + o.name + "\" [alerts] (over [alerts]): " + s.message()));
    }
  }
}

void CheckDatabase(const AgentConfig& cfg, std::vector<ConfigError>* errors) {
  const std::string& path = cfg.database;
  if (path == ":memory:") return;
  const std::string what = "database \"" + path + "\": ";
  auto fail = [&](std::string message) {
    errors->push_back(At(cfg, cfg.database_pos, what + message));
  };
  const std::string dir = ParentDir(path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    return fail("directory \"" + dir + "\" does not exist (" + std::strerror(err) + ")");
  }
  if (!S_ISDIR(st.st_mode)) return fail("\"" + dir + "\" is not a directory");
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) return fail("it is a directory");
  if (exists && ::access(path.c_str(), W_OK) != 0) {
    const int err = errno;
    return fail("the file is not writable (" + std::string(std::strerror(err)) +
                "); originwatch writes its history there");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    const int err = errno;
    fail("directory \"" + dir + "\" is not writable (" + std::strerror(err) +
         "); SQLite keeps its -wal and -shm files beside the database");
  }
}

}  // namespace preflight_internal

std::vector<ConfigError> PreflightChecks(const AgentConfig& config) {
  using namespace preflight_internal;  // NOLINT(build/namespaces): this component's checks
  std::vector<ConfigError> errors;
  const bool ca_ok = CheckCaFile(config, &errors);
  const bool profiles_ok = CheckProfiles(config, &errors);
  // Only when the parts pass: otherwise it would repeat their first problem.
  if (ca_ok && profiles_ok) CheckEngineOptions(config, &errors);
  CheckWebhookSecrets(config, &errors);
  CheckAlertThresholds(config, &errors);
  CheckDatabase(config, &errors);
  std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::tuple(a.line == 0, a.line, a.column) < std::tuple(b.line == 0, b.line, b.column);
  });
  return errors;
}

}  // namespace originwatch
