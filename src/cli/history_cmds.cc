// `originwatch query`, `originwatch report` and `originwatch check-config`.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <vector>

#include "originwatch/clock.h"
#include "cli/history_cmds.h"
#include "originwatch/config.h"
#include "originwatch/preflight.h"
#include "originwatch/store.h"
#include "originwatch/webhook.h"

namespace originwatch::cli {
namespace {

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
  if (args.kind == "alerts") {
    // Open alerts first, then the newest events (with their deliveries).
    auto open = Report(db, "open_alerts", "", UnixNowMs());
    if (!open.ok()) {
      std::cerr << "originwatch report: " << open.status().message() << "\n";
      return 2;
    }
    auto events = Report(db, "alert_events", args.arg, UnixNowMs());
    if (!events.ok()) {
      std::cerr << "originwatch report: " << events.status().message() << "\n";
      return 2;
    }
    if (args.format == "table") {
      std::cout << "Open alerts\n" << (open->rows.empty() ? std::string("(none)\n") : FormatTable(*open));
      std::cout << "\nRecent events\n" << (events->rows.empty() ? std::string("(none)\n") : FormatTable(*events));
    } else {
      Print(open.value(), args.format);
      Print(events.value(), args.format);
    }
    return 0;
  }
  auto q = Report(db, args.kind, args.arg, UnixNowMs());
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
