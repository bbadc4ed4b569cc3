// `originwatch query`, `originwatch report` and `originwatch check-config`.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/history_cmds.h"
#include "originwatch/config.h"
#include "originwatch/store.h"

namespace originwatch::cli {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool Print(const QueryResult& q, const std::string& format) {
  if (format == "csv") {
    std::cout << FormatCsv(q);
  } else if (format == "json") {
    std::cout << FormatJson(q);
  } else if (format == "table") {
    std::cout << FormatTable(q);
  } else {
    return false;
  }
  return true;
}

// The database named by --db, else by the config's [agent] database, else the default.
bool ResolveDb(const HistoryArgs& args, std::string* db) {
  if (!args.db.empty()) {
    *db = args.db;
    return true;
  }
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

}  // namespace

int RunQueryCmd(const HistoryArgs& args) {
  if (args.format != "table" && args.format != "csv" && args.format != "json") {
    std::cerr << "originwatch query: unknown --format \"" << args.format << "\" (table, csv, json)\n";
    return 2;
  }
  std::string db;
  if (!ResolveDb(args, &db)) return 2;
  auto q = RunQuery(db, args.sql);
  if (!q.ok()) {
    std::cerr << "originwatch query: " << q.status().message() << "\n";
    return 2;
  }
  Print(q.value(), args.format);
  return 0;
}

int RunReportCmd(const HistoryArgs& args) {
  if (args.format != "table" && args.format != "csv" && args.format != "json") {
    std::cerr << "originwatch report: unknown --format \"" << args.format << "\" (table, csv, json)\n";
    return 2;
  }
  std::string db;
  if (!ResolveDb(args, &db)) return 2;
  auto q = Report(db, args.kind, args.arg, WallMs());
  if (!q.ok()) {
    std::cerr << "originwatch report: " << q.status().message() << "\n";
    return 2;
  }
  if (args.format == "table" && q->rows.empty()) {
    std::cout << "(no rows)\n";
    return 0;
  }
  Print(q.value(), args.format);
  return 0;
}

int RunCheckConfig(const std::string& path) {
  LoadResult r = LoadConfigFile(path);
  if (!r.ok()) {
    for (const ConfigError& e : r.errors) std::cerr << e.ToString() << "\n";
    std::cerr << path << ": " << r.errors.size() << (r.errors.size() == 1 ? " error" : " errors") << "\n";
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
