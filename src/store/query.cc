// The read side of the store: read-only queries and reports, streamed row by
// row to a RowSink (the formats are in query_format.cc).
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "originwatch/store.h"
#include "originwatch/text.h"
#include "store/query_internal.h"
#include "store/sqlite_util.h"

namespace originwatch {

using store_internal::DbPtr;

namespace {

Result<DbPtr> OpenWith(const std::string& path, const std::string& name, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    return store_internal::SqliteError(raw, "cannot open database \"" + path + "\"");
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  if (Status s = store_internal::ExecSql(raw, "PRAGMA query_only = ON"); !s.ok()) {
    return Status::IoError("cannot open database \"" + path + "\": " + s.message());
  }
  return db;
}

// Opens `path` read-only: never creates it, and PRAGMA query_only refuses
// writes even through a writable temp schema.
Result<DbPtr> OpenReadOnly(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return Status::NotFound("cannot open database \"" + path + "\": no such file");
  }
  auto db = OpenWith(path, path, SQLITE_OPEN_READONLY);
  if (!db.ok()) return db;
  // A WAL database needs its -shm file; a reader without write access to the
  // directory cannot create it. No -wal file means no connection has the
  // database open (SQLite removes both on the last close), so reading it as
  // immutable is then safe.
  if (store_internal::ExecSql(db->get(), "SELECT count(*) FROM sqlite_schema").ok()) return db;
  if (stat((path + "-wal").c_str(), &st) == 0) {
    return Status::IoError("cannot open database \"" + path + "\": " + sqlite3_errmsg(db->get()));
  }
  return OpenWith(path, store_internal::FileUriOf(path) + "?immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
}

// Line and column (1-based) of a byte offset in text.
std::string Position(std::string_view sql, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < sql.size(); ++i) {
    if (sql[i] == '\n') {
      ++line;
      col = 1;
    } else if ((static_cast<unsigned char>(sql[i]) & 0xC0) != 0x80) {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

// Per connection: the deadline the progress handler enforces and what the
// authorizer refused (so the error can name it; SQLite only says "not
// authorized").
struct Guard {
  bool has_deadline = false;
  std::chrono::steady_clock::time_point deadline;
  bool timed_out = false;
  std::string refused;
};

int OnProgress(void* p) {
  auto* g = static_cast<Guard*>(p);
  if (!g->has_deadline || std::chrono::steady_clock::now() < g->deadline) return 0;
  g->timed_out = true;
  return 1;  // SQLite stops the statement with SQLITE_INTERRUPT
}

bool IsOneOf(const char* name, std::initializer_list<const char*> names) {
  if (name == nullptr) return false;
  for (const char* n : names) {
    if (sqlite3_stricmp(name, n) == 0) return true;
  }
  return false;
}

// Runs when a statement is prepared, before any file is opened. Writes to
// this database are left to SQLITE_OPEN_READONLY and query_only (their message
// is SQLite's "attempt to write a readonly database"); this refuses what would
// open another file or loosen those guarantees. VACUUM has no action code of
// its own: it runs an ATTACH of its target (SQLite 3.40 vacuum.c), refused
// here too, and Exec refuses the statement itself before it runs.
int Authorize(void* p, int action, const char* a1, const char* a2, const char*, const char*) {
  auto* g = static_cast<Guard*>(p);
  switch (action) {
    case SQLITE_ATTACH:
      g->refused = "ATTACH";
      return SQLITE_DENY;
    case SQLITE_DETACH:
      g->refused = "DETACH";
      return SQLITE_DENY;
    case SQLITE_FUNCTION:
      // fts3_tokenizer() with two arguments takes a pointer (Debian builds
      // enable it): code execution from SQL text.
      if (IsOneOf(a2, {"load_extension", "fts3_tokenizer"})) {
        g->refused = std::string(a2) + "()";
        return SQLITE_DENY;
      }
      return SQLITE_OK;
    case SQLITE_PRAGMA:
      // Always: these write or checkpoint. With a value: these would loosen
      // the read-only connection or point it at other files.
      if (IsOneOf(a1, {"wal_checkpoint", "incremental_vacuum", "optimize"}) ||
          (a2 != nullptr &&
           IsOneOf(a1, {"query_only", "writable_schema", "journal_mode", "locking_mode",
                        "trusted_schema", "temp_store_directory", "data_store_directory",
                        "wal_autocheckpoint", "schema_version"}))) {
        g->refused = std::string("PRAGMA ") + a1;
        return SQLITE_DENY;
      }
      return SQLITE_OK;
    default:
      return SQLITE_OK;
  }
}

Status Refused(const Guard& g) {
  return Status::InvalidArgument(g.refused +
                                 " is refused: a query only reads this one database (no other "
                                 "file, no loaded code)");
}

// True when the statement's first keyword is VACUUM.
bool IsVacuum(sqlite3_stmt* stmt) {
  const char* s = sqlite3_sql(stmt);
  if (s == nullptr) return false;
  for (;;) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f') ++s;
    if (s[0] == '-' && s[1] == '-') {
      while (*s && *s != '\n') ++s;
    } else if (s[0] == '/' && s[1] == '*') {
      const char* e = std::strstr(s + 2, "*/");
      s = e ? e + 2 : s + std::strlen(s);
    } else {
      break;
    }
  }
  return sqlite3_strnicmp(s, "VACUUM", 6) == 0 && !std::isalnum(static_cast<unsigned char>(s[6])) &&
         s[6] != '_';
}

// Installs the authorizer and, with a timeout, the progress handler.
void Arm(sqlite3* db, Guard& g, const QueryLimits& limits) {
  sqlite3_set_authorizer(db, Authorize, &g);
  if (limits.timeout_ms > 0) {
    g.has_deadline = true;
    g.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limits.timeout_ms);
    sqlite3_progress_handler(db, 1000, OnProgress, &g);
    sqlite3_busy_timeout(db, static_cast<int>(std::min<int64_t>(limits.timeout_ms, 5000)));
  }
}

// One streamed result being produced, possibly from several statements (the
// origin report): the sink gets Begin once, End once (Finish).
struct Run {
  Run(sqlite3* d, Guard* guard, const QueryLimits& l, RowSink* s)
      : db(d), g(guard), limits(l), sink(s) {}
  sqlite3* db;
  Guard* g;
  QueryLimits limits;
  RowSink* sink;
  bool begun = false;
  QueryStreamResult res;
};

// A step that did not return a row or DONE: a stop (timeout, heap limit) or
// an error.
Status StepFailed(Run& run, int rc) {
  if (run.g->timed_out) {
    run.res.stop = QueryStop::kTimeout;
    return Status::Ok();
  }
  if ((rc & 0xff) == SQLITE_NOMEM) {
    run.res.stop = QueryStop::kMemory;
    run.res.detail = sqlite3_errmsg(run.db);
    return Status::Ok();
  }
  if (!run.g->refused.empty()) return Refused(*run.g);
  return store_internal::SqliteError(run.db, "query failed");
}

// Delivers the rows of one prepared statement to the sink.
Status StreamRows(Run& run, sqlite3_stmt* stmt) {
  const int ncol = sqlite3_column_count(stmt);
  if (!run.begun) {
    std::vector<std::string> columns;
    for (int i = 0; i < ncol; ++i) {
      const char* name = sqlite3_column_name(stmt, i);
      columns.push_back(name ? name : "");
    }
    run.sink->Begin(columns);
    run.begun = true;
  }
  std::vector<QueryCell> cells(static_cast<size_t>(ncol));
  std::vector<std::string> hex(static_cast<size_t>(ncol));
  for (;;) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return Status::Ok();
    if (rc != SQLITE_ROW) return StepFailed(run, rc);
    if (run.limits.max_rows > 0 && run.res.rows >= run.limits.max_rows) {
      run.res.stop = QueryStop::kMaxRows;  // there is one more row than allowed
      return Status::Ok();
    }
    for (int i = 0; i < ncol; ++i) {
      QueryCell& cell = cells[static_cast<size_t>(i)];
      const int type = sqlite3_column_type(stmt, i);
      cell.null = type == SQLITE_NULL;
      cell.numeric = type == SQLITE_INTEGER || type == SQLITE_FLOAT;
      if (type == SQLITE_BLOB) {
        static const char kHex[] = "0123456789abcdef";
        const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(stmt, i));
        const int n = sqlite3_column_bytes(stmt, i);
        std::string& h = hex[static_cast<size_t>(i)];
        h.clear();
        for (int k = 0; k < n; ++k) {
          h.push_back(kHex[p[k] >> 4]);
          h.push_back(kHex[p[k] & 15]);
        }
        cell.text = h;
      } else if (!cell.null) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
        const int n = sqlite3_column_bytes(stmt, i);
        if (p == nullptr) return StepFailed(run, sqlite3_errcode(run.db));
        cell.text = std::string_view(p, static_cast<size_t>(n));
      } else {
        cell.text = {};
      }
    }
    if (!run.sink->Row(cells)) return Status::IoError("cannot write the output");
    ++run.res.rows;
  }
}

// Prepares every statement of `sql` first (so a syntax error or a refused
// statement stops the run before anything is printed), then runs them in
// order; the rows of the last one that returns columns go to the sink.
Status Exec(Run& run, const std::string& sql, const std::vector<SqlValue>& params) {
  if (run.res.stop != QueryStop::kNone) return Status::Ok();
  // sqlite3_prepare_v2 ends the text at a NUL byte and returns the NUL itself
  // as the tail, so the loop below would never get past it.
  if (sql.find('\0') != std::string::npos) {
    return Status::InvalidArgument("the SQL text contains a NUL byte");
  }
  std::vector<store_internal::StmtPtr> stmts;
  const char* begin = sql.c_str();
  const char* end = begin + sql.size();
  const char* p = begin;
  while (p < end) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(run.db, p, static_cast<int>(end - p), &raw, &tail);
    store_internal::StmtPtr stmt(raw);
    if (rc != SQLITE_OK) {
      if (!run.g->refused.empty()) return Refused(*run.g);
      if ((rc & 0xff) == SQLITE_NOMEM || run.g->timed_out) return StepFailed(run, rc);
      std::string msg = sqlite3_errmsg(run.db);
      const int off = sqlite3_error_offset(run.db);
      if (off >= 0) msg += " (" + Position(sql, static_cast<size_t>(p - begin) + off) + ")";
      return Status::InvalidArgument(std::move(msg));
    }
    p = tail;
    if (!stmt) continue;  // whitespace or a comment
    if (IsVacuum(stmt.get())) {
      run.g->refused = "VACUUM";
      return Refused(*run.g);
    }
    stmts.push_back(std::move(stmt));
  }
  if (stmts.empty()) return Status::InvalidArgument("no SQL statement to run");
  size_t target = stmts.size() - 1;
  for (size_t i = stmts.size(); i-- > 0;) {
    if (sqlite3_column_count(stmts[i].get()) > 0) {
      target = i;
      break;
    }
  }
  for (size_t i = 0; i < stmts.size(); ++i) {
    sqlite3_stmt* stmt = stmts[i].get();
    if (Status s = store_internal::BindAll(run.db, stmt, params); !s.ok()) return s;
    if (i == target) {
      if (Status s = StreamRows(run, stmt); !s.ok()) return s;
    } else {
      int rc;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      }
      if (rc != SQLITE_DONE) {
        if (Status s = StepFailed(run, rc); !s.ok()) return s;
      }
    }
    if (run.res.stop != QueryStop::kNone) return Status::Ok();
  }
  return Status::Ok();
}

// Ends the output; after an error only when rows were printed (so JSON stays
// a document), else an error prints nothing on stdout.
Result<QueryStreamResult> Finish(Run& run, Status s) {
  if (run.begun && (s.ok() || run.res.rows > 0) && !run.sink->End() && s.ok()) {
    s = Status::IoError("cannot write the output");
  }
  if (!s.ok()) return s;
  return run.res;
}

using store_internal::Collector;

Result<QueryResult> Collected(Result<QueryStreamResult> r, Collector& c) {
  if (!r.ok()) return r.status();
  if (r->stop == QueryStop::kMemory) return Status::Internal("query failed: " + r->detail);
  return std::move(c.result);
}

// All rows of `sql` on an armed connection (the reports' small lookups).
Result<QueryResult> RunOn(sqlite3* db, Guard& g, const std::string& sql,
                          const std::vector<SqlValue>& params) {
  Collector c;
  Run run(db, &g, QueryLimits{}, &c);
  Status s = Exec(run, sql, params);
  return Collected(Finish(run, std::move(s)), c);
}

}  // namespace

void LimitSqliteHeap(int64_t bytes) { sqlite3_hard_heap_limit64(bytes); }

// The query path on a connection opened elsewhere (fleet_query.cc).
Result<QueryStreamResult> store_internal::StreamOnConnection(sqlite3* db, const std::string& sql,
                                                             const std::vector<SqlValue>& params,
                                                             const QueryLimits& limits, RowSink& sink) {
  Guard g;
  Arm(db, g, limits);
  Run run(db, &g, limits, &sink);
  Status s = Exec(run, sql, params);
  return Finish(run, std::move(s));
}

Result<QueryStreamResult> StreamQuery(const std::string& db_path, const std::string& sql,
                                      const std::vector<SqlValue>& params,
                                      const QueryLimits& limits, RowSink& sink) {
  auto db = OpenReadOnly(db_path);
  if (!db.ok()) {
    // Out of SQLite's heap limit already while opening.
    if (db.status().message().find("out of memory") != std::string::npos) {
      QueryStreamResult r;
      r.stop = QueryStop::kMemory;
      r.detail = db.status().message();
      return r;
    }
    return db.status();
  }
  Guard g;
  Arm(db->get(), g, limits);
  Run run(db->get(), &g, limits, &sink);
  Status s = Exec(run, sql, params);
  return Finish(run, std::move(s));
}

Result<QueryResult> RunQuery(const std::string& db_path, const std::string& sql,
                             const std::vector<SqlValue>& params) {
  Collector c;
  return Collected(StreamQuery(db_path, sql, params, {}, c), c);
}

// ---------------------------------------------------------------------------
// Reports

namespace {

// days_left at ?1 (unix seconds), rounded down.
constexpr std::string_view kDaysLeft =
    "((c.not_after - ?1) / 86400 - ((c.not_after - ?1) % 86400 < 0))";

std::string ExpiringSql() {
  return std::string(
             "SELECT c.common_name AS common_name, c.subject AS subject, "
             "strftime('%Y-%m-%dT%H:%M:%SZ', c.not_after, 'unixepoch') AS not_after, ") +
         std::string(kDaysLeft) +
         " AS days_left, group_concat(x.origin, ', ') AS origins, sum(x.n) AS variants, "
         "c.sha256 AS sha256 "
         "FROM (SELECT ch.leaf_cert_id AS cert_id, o.name AS origin, count(*) AS n "
         "      FROM variant_state s JOIN chains ch ON ch.id = s.last_chain_id "
         "      JOIN variants v ON v.id = s.variant_id JOIN origins o ON o.id = v.origin_id "
         "      WHERE o.removed_at IS NULL GROUP BY ch.leaf_cert_id, o.name ORDER BY o.name) x "
         "JOIN certificates c ON c.id = x.cert_id GROUP BY c.id "
         "HAVING ?2 IS NULL OR days_left <= ?2 ORDER BY c.not_after, c.sha256";
}

constexpr std::string_view kFailingSql =
    "SELECT origin, address, sni, profile, since, "
    "  CASE WHEN d >= 86400 THEN printf('%dd%02dh', d / 86400, d % 86400 / 3600) "
    "       WHEN d >= 3600 THEN printf('%dh%02dm', d / 3600, d % 3600 / 60) "
    "       ELSE printf('%dm%02ds', d / 60, d % 60) END AS failing_for, "
    "  failures, outcome, alert, error, finding, summary "
    "FROM (SELECT o.name AS origin, v.address AS address, "
    "        CASE v.sni WHEN '' THEN '(none)' ELSE v.sni END AS sni, v.profile AS profile, "
    "        strftime('%Y-%m-%dT%H:%M:%fZ', s.failing_since / 1000.0, 'unixepoch') AS since, "
    "        max(0, (?1 - s.failing_since) / 1000) AS d, "
    "        s.consecutive_failures AS failures, "
    "        COALESCE(oc.name, CAST(s.last_outcome AS TEXT)) AS outcome, p.alert AS alert, "
    "        se.value AS error, s.last_finding_code AS finding, "
    "        s.last_finding_summary AS summary, s.failing_since AS fs "
    "      FROM variant_state s JOIN variants v ON v.id = s.variant_id "
    "      JOIN origins o ON o.id = v.origin_id "
    "      LEFT JOIN probes p ON p.id = s.last_probe_id "
    "      LEFT JOIN outcome_codes oc ON oc.code = s.last_outcome "
    "      LEFT JOIN strings se ON se.id = p.error_id "
    "      WHERE s.last_outcome != 0 AND o.removed_at IS NULL) "
    "ORDER BY fs, origin, address, sni, profile";

// Columns shared by both sections of the origin report; ?1 = now (s), ?2 = origin id.
std::string ProbeColumns() {
  return std::string(
             "v.address AS address, CASE v.sni WHEN '' THEN '(none)' ELSE v.sni END AS sni, "
             "v.profile AS profile, "
             "strftime('%Y-%m-%dT%H:%M:%fZ', p.ts / 1000.0, 'unixepoch') AS ts, "
             "COALESCE(oc.name, CAST(p.outcome AS TEXT)) AS outcome, p.alert AS alert, "
             "p.connect_ms AS connect_ms, p.handshake_ms AS handshake_ms, "
             "sv.value AS version, sc.value AS cipher, c.subject AS leaf_subject, ") +
         std::string(kDaysLeft) +
         " AS days_left, CASE WHEN p.verify_code IS NULL THEN NULL WHEN p.verify_code = 0 "
         "THEN 'ok' ELSE COALESCE(sve.value, 'error ' || p.verify_code) END AS verify, "
         "se.value AS error, ph.status AS http_status";
}

std::string ProbeJoins() {
  return "LEFT JOIN outcome_codes oc ON oc.code = p.outcome "
         "LEFT JOIN strings sv ON sv.id = p.version_id "
         "LEFT JOIN strings sc ON sc.id = p.cipher_id "
         "LEFT JOIN strings sve ON sve.id = p.verify_error_id "
         "LEFT JOIN strings se ON se.id = p.error_id "
         "LEFT JOIN chains ch ON ch.id = p.chain_id "
         "LEFT JOIN certificates c ON c.id = ch.leaf_cert_id "
         "LEFT JOIN probe_http ph ON ph.probe_id = p.id ";
}

// One row per variant (section "latest") then the origin's last 20 probes.
Status OriginReport(Run& run, const std::string& path, std::string_view name, int64_t now_s) {
  auto id = RunOn(run.db, *run.g, "SELECT id FROM origins WHERE name = ?1", {std::string(name)});
  if (!id.ok()) return id.status();
  if (id->rows.empty()) {
    return Status::NotFound("no origin named \"" + std::string(name) + "\" in \"" + path + "\"");
  }
  const int64_t origin_id = std::stoll(*id->rows[0][0]);
  if (Status s =
          Exec(run,
               "SELECT 'latest' AS section, " + ProbeColumns() +
                   ", s.consecutive_failures AS failures, "
                   "strftime('%Y-%m-%dT%H:%M:%fZ', s.failing_since / 1000.0, "
                   "'unixepoch') AS failing_since, s.last_finding_code AS finding "
                   "FROM variant_state s JOIN variants v ON v.id = s.variant_id "
                   "JOIN probes p ON p.id = s.last_probe_id " +
                   ProbeJoins() + "WHERE v.origin_id = ?2 ORDER BY v.address, v.sni, v.profile",
               {now_s, origin_id});
      !s.ok()) {
    return s;
  }
  return Exec(run,
              "SELECT 'probe' AS section, " + ProbeColumns() +
                  ", NULL AS failures, NULL AS failing_since, NULL AS finding "
                  "FROM probes p JOIN variants v ON v.id = p.variant_id " +
                  ProbeJoins() + "WHERE v.origin_id = ?2 ORDER BY p.ts DESC, p.id DESC LIMIT 20",
              {now_s, origin_id});
}

Status RunReport(Run& run, const std::string& db_path, std::string_view kind, std::string_view arg,
                 int64_t now_ms) {
  sqlite3* d = run.db;
  auto version = store_internal::QueryInt(d, "PRAGMA user_version");
  if (!version.ok()) {
    return Status::IoError("database \"" + db_path + "\": " + version.status().message());
  }
  if (*version < 1) {
    return Status::InvalidArgument("database \"" + db_path +
                                   "\" holds no originwatch history (schema version 0)");
  }
  const int64_t now_s = now_ms / 1000;
  if (kind == "expiring") {
    SqlValue max_days = nullptr;
    if (!arg.empty()) {
      int64_t days = 0;
      auto [ptr, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), days);
      if (ec != std::errc() || ptr != arg.data() + arg.size()) {
        return Status::InvalidArgument("report expiring: \"" + std::string(arg) +
                                       "\" is not a number of days");
      }
      max_days = days;
    }
    return Exec(run, ExpiringSql(), {now_s, max_days});
  }
  if (kind == "failing") return Exec(run, std::string(kFailingSql), {now_ms});
  if (kind == "open_alerts") return Exec(run, "SELECT * FROM open_alerts", {});
  if (kind == "alert_events") {
    int64_t limit = 50;
    if (!arg.empty()) {
      auto [ptr, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), limit);
      if (ec != std::errc() || ptr != arg.data() + arg.size() || limit < 1) {
        return Status::InvalidArgument("report alerts: \"" + std::string(arg) +
                                       "\" is not a number of events");
      }
    }
    // The newest events, with the state of their delivery to each webhook.
    return Exec(run,
                "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', e.at_ms / 1000, 'unixepoch') AS at, "
                "e.kind, e.rule, e.severity, e.origin, e.variant, e.finding_code AS finding, "
                "(SELECT group_concat(o.webhook || ':' || o.state, ' ') FROM outbox o "
                "WHERE o.event_row = e.id) AS delivery, e.summary FROM alert_events e "
                "ORDER BY e.id DESC LIMIT ?1",
                {limit});
  }
  if (kind == "changes") {
    if (!arg.empty()) {
      auto id = RunOn(d, *run.g, "SELECT id FROM origins WHERE name = ?1", {std::string(arg)});
      if (!id.ok()) return id.status();
      if (id->rows.empty()) {
        return Status::NotFound("no origin named \"" + std::string(arg) + "\" in \"" + db_path +
                                "\"");
      }
    }
    return Exec(run, "SELECT * FROM cert_changes WHERE ?1 = '' OR origin = ?1", {std::string(arg)});
  }
  if (arg.empty()) return Status::InvalidArgument("report origin: which origin? (give its name)");
  return OriginReport(run, db_path, arg, now_s);
}

}  // namespace

Result<QueryStreamResult> StreamReport(const std::string& db_path, std::string_view kind,
                                       std::string_view arg, int64_t now_ms,
                                       const QueryLimits& limits, RowSink& sink) {
  if (kind != "expiring" && kind != "failing" && kind != "changes" && kind != "origin" &&
      kind != "open_alerts" && kind != "alert_events") {
    return Status::InvalidArgument(
        "unknown report \"" + std::string(kind) +
        "\": expected expiring, failing, changes, origin, open_alerts or "
        "alert_events");
  }
  auto db = OpenReadOnly(db_path);
  if (!db.ok()) return db.status();
  Guard g;
  Arm(db->get(), g, limits);
  Run run(db->get(), &g, limits, &sink);
  Status s = RunReport(run, db_path, kind, arg, now_ms);
  return Finish(run, std::move(s));
}

Result<QueryResult> Report(const std::string& db_path, std::string_view kind, std::string_view arg,
                           int64_t now_ms) {
  Collector c;
  return Collected(StreamReport(db_path, kind, arg, now_ms, {}, c), c);
}

}  // namespace originwatch
