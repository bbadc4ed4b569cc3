// `originwatch query`, `originwatch report` and `originwatch check-config`.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string_view>
#include <vector>

#include "originwatch/clock.h"
#include "cli/history_cmds.h"
#include "originwatch/config.h"
#include "originwatch/preflight.h"
#include "originwatch/store.h"
#include "originwatch/webhook.h"

namespace originwatch::cli {
namespace {

bool WriteStdout(std::string_view s) {
  return std::fwrite(s.data(), 1, s.size(), stdout) == s.size();
}

bool KnownFormat(const std::string& format) {
  return format == "table" || format == "csv" || format == "json";
}

// The databases named by --db, else by the config's [agent] database, else the default.
bool ResolveDb(const char* cmd, const HistoryArgs& args, std::vector<std::string>* dbs) {
  if (args.dbs.size() > kMaxFleetDatabases) {
    std::cerr << "originwatch " << cmd << ": at most " << kMaxFleetDatabases << " --db at once, not "
              << args.dbs.size() << "\n";
    return false;
  }
  if (!args.dbs.empty()) {
    *dbs = args.dbs;
    return true;
  }
  std::string* db = &dbs->emplace_back();
  if (!args.config_path.empty()) {
    LoadResult r = LoadConfigFile(args.config_path);
    if (!r.ok()) {
      for (const ConfigError& e : r.errors) std::cerr << e.ToString() << "\n";
      return false;
    }
    *db = r.config->database;
    return true;
  }
  *db = "originwatch.db";
  return true;
}

// Checks --format, --max-rows and --timeout, resolves the database and caps
// SQLite's heap. False after printing the problem (exit 2).
bool Prepare(const char* cmd, const HistoryArgs& args, QueryLimits* limits, std::vector<std::string>* db) {
  if (!KnownFormat(args.format)) {
    std::cerr << "originwatch " << cmd << ": unknown --format \"" << args.format
              << "\" (table, csv, json)\n";
    return false;
  }
  if (args.max_rows < 0) {
    std::cerr << "originwatch " << cmd << ": bad --max-rows " << args.max_rows
              << ": use a number of rows, 1 or more\n";
    return false;
  }
  limits->max_rows = args.max_rows;
  if (!args.timeout.empty()) {
    auto ms = ParseDurationMs(args.timeout);
    if (!ms || *ms <= 0) {
      std::cerr << "originwatch " << cmd << ": bad --timeout \"" << args.timeout
                << "\": use e.g. 1s, 500ms, 2m\n";
      return false;
    }
    limits->timeout_ms = *ms;
  }
  if (!ResolveDb(cmd, args, db)) return false;
  LimitSqliteHeap(kQueryHeapLimitBytes);
  return true;
}

// Prints the outcome of one streamed result; returns the exit code.
int Outcome(const char* cmd, const HistoryArgs& args, const Result<QueryStreamResult>& r) {
  std::fflush(stdout);
  if (!r.ok()) {
    std::cerr << "originwatch " << cmd << ": " << r.status().message() << "\n";
    return 2;
  }
  const std::string printed = std::to_string(r->rows) + (r->rows == 1 ? " row" : " rows");
  switch (r->stop) {
    case QueryStop::kNone:
      return 0;
    case QueryStop::kMaxRows:
      std::cerr << "originwatch " << cmd << ": stopped after " << printed << " (--max-rows "
                << args.max_rows << "); the result has more rows\n";
      return 1;
    case QueryStop::kTimeout:
      std::cerr << "originwatch " << cmd << ": stopped after " << printed
                << ": the query ran longer than --timeout " << args.timeout << "\n";
      return 1;
    case QueryStop::kMemory:
      std::cerr << "originwatch " << cmd << ": stopped after " << printed
                << ": the query needs more than " << (kQueryHeapLimitBytes >> 20)
                << " MiB of SQLite memory (" << r->detail
                << "); narrow it with WHERE or LIMIT, or sort and group less\n";
      return 1;
  }
  return 2;
}

}  // namespace

int RunQueryCmd(const HistoryArgs& args) {
  QueryLimits limits;
  std::vector<std::string> dbs;
  if (!Prepare("query", args, &limits, &dbs)) return 2;
  auto writer = MakeRowWriter(args.format, WriteStdout);
  if (dbs.size() > 1) return Outcome("query", args, StreamFleetQuery(dbs, args.sql, {}, limits, *writer));
  return Outcome("query", args, StreamQuery(dbs[0], args.sql, {}, limits, *writer));
}

int RunReportCmd(const HistoryArgs& args) {
  QueryLimits limits;
  std::vector<std::string> dbs;
  if (!Prepare("report", args, &limits, &dbs)) return 2;
  // One database: streamed as SQLite steps; several: merged (store.h).
  auto report = [&](std::string_view kind, std::string_view arg, RowSink& sink) {
    return dbs.size() > 1 ? StreamFleetReport(dbs, kind, arg, UnixNowMs(), limits, sink)
                          : StreamReport(dbs[0], kind, arg, UnixNowMs(), limits, sink);
  };
  const bool table = args.format == "table";
  if (args.kind == "alerts") {
    // Open alerts first, then the newest events (with their deliveries).
    if (table) WriteStdout("Open alerts\n");
    auto open = MakeRowWriter(args.format, WriteStdout, "(none)\n");
    const int rc =
        Outcome("report", args, report("open_alerts", "", *open));
    if (rc != 0) return rc;
    if (table) WriteStdout("\nRecent events\n");
    auto events = MakeRowWriter(args.format, WriteStdout, "(none)\n");
    return Outcome("report", args, report("alert_events", args.arg, *events));
  }
  auto writer = MakeRowWriter(args.format, WriteStdout, "(no rows)\n");
  return Outcome("report", args, report(args.kind, args.arg, *writer));
}

int RunWebhookTest(const std::string& config_path, const std::string& name) {
  LoadResult r = LoadConfigFile(config_path);
  if (!r.ok()) {
    for (const ConfigError& e : r.errors) std::cerr << e.ToString() << "\n";
    return 2;
  }
  const WebhookConfig* hook = nullptr;
  std::string known;
  for (const WebhookConfig& w : r.config->webhooks) {
    if (w.name == name) hook = &w;
    known += (known.empty() ? "" : ", ") + w.name;
  }
  if (hook == nullptr) {
    std::cerr << "originwatch webhook test: no [[webhook]] named \"" << name << "\" in " << config_path
              << " (known: " << (known.empty() ? "none" : known) << ")\n";
    return 2;
  }
  WebhookGlobalInit();
  auto res = SendTestEvent(*hook, UnixNowMs());
  if (!res.ok()) {
    std::cerr << "originwatch webhook test: " << res.status().message() << "\n";
    return 2;
  }
  const TestDelivery& d = res.value();
  bool ok = d.http_status >= 200 && d.http_status < 300;
  std::cout << "webhook \"" << name << "\" (" << hook->url << "): ";
  if (d.http_status > 0) std::cout << "HTTP " << d.http_status;
  else std::cout << "no HTTP answer";
  if (!d.error.empty()) std::cout << ": " << d.error;
  std::cout << " in " << d.duration_ms << " ms" << (ok ? " - delivered" : " - NOT delivered") << "\n";
  if (!d.body_excerpt.empty()) std::cout << "response: " << d.body_excerpt << "\n";
  return ok ? 0 : 1;
}

int RunCheckConfig(const std::string& path) {
  LoadResult r = LoadConfigFile(path);
  // The file's own errors first; once it parses, everything `run` checks
  // before it starts (CA file, profiles, webhook secrets, thresholds, database).
  std::vector<ConfigError> errors = r.ok() ? PreflightChecks(*r.config) : std::move(r.errors);
  if (!errors.empty()) {
    for (const ConfigError& e : errors) std::cerr << e.ToString() << "\n";
    std::cerr << path << ": " << errors.size() << (errors.size() == 1 ? " error" : " errors") << "\n";
    return 2;
  }
  const AgentConfig& c = *r.config;
  size_t variants = 0;
  for (const OriginConfig& o : c.origins) variants += o.sni.size() * o.profiles.size() * std::max<size_t>(1, o.connect.size());
  std::cout << path << ": ok: " << c.origins.size() << " origins, " << variants
            << " variants (per address), " << c.profiles.size() << " profiles, " << c.webhooks.size()
            << " webhooks; database " << c.database << ", interval " << FormatDurationMs(c.interval_ms)
            << ", timeout " << FormatDurationMs(c.timeout_ms) << "\n";
  return 0;
}

}  // namespace originwatch::cli
