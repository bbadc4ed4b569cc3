// Fleet queries (store.h): several agents' databases answered as one, with a
// `source` column naming the database of each row.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "originwatch/store.h"
#include "store/query_internal.h"
#include "store/sqlite_util.h"

namespace originwatch {

using store_internal::DbPtr;

namespace {

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string Quoted(std::string_view text, char quote) {
  std::string out(1, quote);
  for (char c : text) {
    out += c;
    if (c == quote) out += c;
  }
  out += quote;
  return out;
}

Status CheckCount(const std::vector<std::string>& paths) {
  if (paths.empty()) return Status::InvalidArgument("no database to read");
  if (paths.size() > kMaxFleetDatabases)
    return Status::InvalidArgument("at most " + std::to_string(kMaxFleetDatabases) + " databases (--db) at once, not " +
                                   std::to_string(paths.size()));
  return Status::Ok();
}

// Attaches `path` as `schema` read-only. A WAL database needs its -shm file,
// which a reader without write access to the directory cannot create; with
// no -wal file no connection has it open, so it is then read as immutable
// (as the single-database query path does).
Status AttachReadOnly(sqlite3* db, const std::string& path, const std::string& schema) {
  if (!Exists(path)) return Status::NotFound("cannot open database \"" + path + "\": no such file");
  auto attach = [&](const std::string& query) -> Status {
    auto stmt = store_internal::Prepare(db, "ATTACH DATABASE ?1 AS " + schema);
    if (!stmt.ok()) return stmt.status();
    const std::string uri = store_internal::FileUriOf(path) + query;
    if (Status s = store_internal::BindAll(db, stmt->get(), {uri}); !s.ok()) return s;
    if (sqlite3_step(stmt->get()) != SQLITE_DONE)
      return store_internal::SqliteError(db, "cannot open database \"" + path + "\"");
    return Status::Ok();
  };
  if (Status s = attach("?mode=ro"); !s.ok()) return s;
  if (store_internal::ExecSql(db, "SELECT count(*) FROM " + schema + ".sqlite_schema").ok()) return Status::Ok();
  const std::string error = sqlite3_errmsg(db);
  (void)store_internal::ExecSql(db, "DETACH DATABASE " + schema);
  if (Exists(path + "-wal")) return Status::IoError("cannot open database \"" + path + "\": " + error);
  return attach("?mode=ro&immutable=1");
}

// The in-memory connection with every database attached and the union views
// in its temp schema; query_only once they exist.
Result<DbPtr> OpenFleet(const std::vector<std::string>& paths) {
  if (Status s = CheckCount(paths); !s.ok()) return s;
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(":memory:", &raw,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) return store_internal::SqliteError(raw, "cannot open an in-memory database");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  const std::vector<std::string> names = FleetSourceNames(paths);
  int64_t version = -1;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string schema = "s" + std::to_string(i + 1);
    if (Status s = AttachReadOnly(raw, paths[i], schema); !s.ok()) return s;
    auto v = store_internal::QueryInt(raw, "PRAGMA " + schema + ".user_version");
    if (!v.ok()) return Status::IoError("database \"" + paths[i] + "\": " + v.status().message());
    if (*v < 1)
      return Status::InvalidArgument("database \"" + paths[i] + "\" holds no originwatch history (schema version 0)");
    if (version >= 0 && *v != version)
      return Status::InvalidArgument("database \"" + paths[i] + "\" has schema version " + std::to_string(*v) + ", \"" +
                                     paths[0] + "\" " + std::to_string(version) +
                                     ": start both agents with the same originwatch once");
    version = *v;
  }
  auto objects = store_internal::Prepare(
      raw, "SELECT name FROM s1.sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite!_%' ESCAPE '!' "
           "ORDER BY name");
  if (!objects.ok()) return objects.status();
  auto rows = store_internal::CollectRows(raw, objects->get());
  if (!rows.ok()) return rows.status();
  for (const auto& row : rows->rows) {
    if (!row[0]) continue;
    const std::string object = Quoted(*row[0], '"');
    std::string sql = "CREATE TEMP VIEW " + object + " AS ";
    for (size_t i = 0; i < paths.size(); ++i) {
      if (i > 0) sql += " UNION ALL ";
      sql += "SELECT " + Quoted(names[i], '\'') + " AS source, * FROM s" + std::to_string(i + 1) + "." + object;
    }
    if (Status s = store_internal::ExecSql(raw, sql); !s.ok())
      return Status::InvalidArgument("cannot combine \"" + *row[0] + "\" of the databases: " + s.message());
  }
  if (Status s = store_internal::ExecSql(raw, "PRAGMA query_only = ON"); !s.ok()) return s;
  return db;
}


}  // namespace

std::string store_internal::FileUriOf(const std::string& path) {
  std::string uri = "file:";
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#' || c < 0x21 || c > 0x7E) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      uri += buf;
    } else {
      uri.push_back(static_cast<char>(c));
    }
  }
  return uri;
}

std::vector<std::string> FleetSourceNames(const std::vector<std::string>& db_paths) {
  std::vector<std::string> names;
  std::map<std::string, int> seen;
  for (const std::string& p : db_paths) {
    const std::filesystem::path path(p);
    std::string name = path.extension() == ".db" ? path.stem().string() : path.filename().string();
    ++seen[name];
    names.push_back(std::move(name));
  }
  for (size_t i = 0; i < names.size(); ++i)
    if (seen[names[i]] > 1) names[i] = db_paths[i];
  return names;
}

Result<QueryStreamResult> StreamFleetQuery(const std::vector<std::string>& db_paths, const std::string& sql,
                                           const std::vector<SqlValue>& params, const QueryLimits& limits,
                                           RowSink& sink) {
  auto db = OpenFleet(db_paths);
  if (!db.ok()) return db.status();
  return store_internal::StreamOnConnection(db->get(), sql, params, limits, sink);
}

Result<QueryStreamResult> StreamFleetReport(const std::vector<std::string>& db_paths, std::string_view kind,
                                            std::string_view arg, int64_t now_ms, const QueryLimits& limits,
                                            RowSink& sink) {
  if (Status s = CheckCount(db_paths); !s.ok()) return s;
  const std::vector<std::string> names = FleetSourceNames(db_paths);
  const auto start = std::chrono::steady_clock::now();
  QueryResult merged;
  QueryStop stop = QueryStop::kNone;
  std::string detail;
  for (size_t i = 0; i < db_paths.size(); ++i) {
    QueryLimits each;
    if (limits.timeout_ms > 0) {
      const int64_t spent =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
      each.timeout_ms = std::max<int64_t>(limits.timeout_ms - spent, 1);
    }
    store_internal::Collector c;
    auto r = StreamReport(db_paths[i], kind, arg, now_ms, each, c);
    if (!r.ok()) {
      // "origin NAME": an origin lives in one database of the fleet.
      if (r.status().code() == Status::Code::kNotFound && kind == "origin" && Exists(db_paths[i])) continue;
      return r.status();
    }
    if (merged.columns.empty() && !c.result.columns.empty()) {
      merged.columns = {"source"};
      merged.columns.insert(merged.columns.end(), c.result.columns.begin(), c.result.columns.end());
    }
    for (size_t k = 0; k < c.result.rows.size(); ++k) {
      auto& row = merged.rows.emplace_back();
      row.push_back(names[i]);
      row.insert(row.end(), c.result.rows[k].begin(), c.result.rows[k].end());
      auto& numeric = merged.numeric.emplace_back();
      numeric.push_back(false);
      numeric.insert(numeric.end(), c.result.numeric[k].begin(), c.result.numeric[k].end());
    }
    if (r->stop != QueryStop::kNone) {
      stop = r->stop;
      detail = r->detail;
      break;
    }
  }
  if (merged.columns.empty()) {
    if (kind == "origin") return Status::NotFound("no origin named \"" + std::string(arg) + "\" in the databases");
    merged.columns = {"source"};
  }
  // The fleet's order: the one a single database's report has, across sources.
  const std::string key = kind == "failing" ? "since" : kind == "expiring" ? "not_after" : "";
  const auto col = std::find(merged.columns.begin(), merged.columns.end(), key);
  if (!key.empty() && col != merged.columns.end()) {
    const size_t at = static_cast<size_t>(col - merged.columns.begin());
    std::vector<size_t> order(merged.rows.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return merged.rows[a][at].value_or("") < merged.rows[b][at].value_or("");
    });
    QueryResult sorted;
    sorted.columns = merged.columns;
    for (size_t i : order) {
      sorted.rows.push_back(std::move(merged.rows[i]));
      sorted.numeric.push_back(std::move(merged.numeric[i]));
    }
    merged = std::move(sorted);
  }
  QueryStreamResult out;
  out.stop = stop;
  out.detail = detail;
  sink.Begin(merged.columns);
  std::vector<QueryCell> cells;
  for (size_t k = 0; k < merged.rows.size(); ++k) {
    if (limits.max_rows > 0 && out.rows >= limits.max_rows) {
      out.stop = QueryStop::kMaxRows;
      break;
    }
    cells.clear();
    for (size_t c = 0; c < merged.rows[k].size(); ++c) {
      const auto& v = merged.rows[k][c];
      cells.push_back({v ? std::string_view(*v) : std::string_view(), !v.has_value(), merged.numeric[k][c]});
    }
    if (!sink.Row(cells)) return Status::IoError("cannot write the output");
    ++out.rows;
  }
  if (!sink.End()) return Status::IoError("cannot write the output");
  return out;
}

}  // namespace originwatch
