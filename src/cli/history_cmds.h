// Commands over the history database and the config file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace originwatch::cli {

struct HistoryArgs {
  // --db, repeatable: one database, or up to kMaxFleetDatabases (store.h)
  // answered as one with a `source` column; none = from --config, else
  // originwatch.db.
  std::vector<std::string> dbs;
  std::string config_path;  // -c/--config
  std::string format = "table";
  std::string sql;          // query
  std::string kind;         // report: expiring | failing | changes | origin | alerts
  std::string arg;          // report argument
  int64_t max_rows = 0;     // --max-rows; 0 = no limit
  std::string timeout;      // --timeout DURATION; "" = no limit
};

// `query` and `report` stream their rows to stdout as SQLite steps them,
// with SQLite's heap capped at kQueryHeapLimitBytes (store.h). Exit codes: 0
// all rows printed; 1 stopped by --max-rows, --timeout or the memory cap (the
// rows so far are printed, the reason goes to stderr); 2 usage, a refused or
// failing statement, or a database that cannot be read.
int RunQueryCmd(const HistoryArgs& args);
int RunReportCmd(const HistoryArgs& args);
// Sends a sample event to the named webhook; 0 when it answered 2xx.
int RunWebhookTest(const std::string& config_path, const std::string& name);
// Parses the file and, when it parses, runs PreflightChecks (preflight.h): the
// checks `run` makes before it starts. Prints every error as
// file:line:column: message and returns 2, or prints a summary and returns 0.
int RunCheckConfig(const std::string& path);

}  // namespace originwatch::cli
