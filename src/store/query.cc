// The read side of the store: read-only queries, output formats and reports.
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "originwatch/store.h"
#include "originwatch/text.h"
#include "store/sqlite_util.h"

namespace originwatch {

using store_internal::DbPtr;

namespace {

// "file:" URI of a path, percent-encoding what a URI would misread.
std::string FileUri(const std::string& path) {
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
  return OpenWith(path, FileUri(path) + "?immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
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

Result<QueryResult> RunOn(sqlite3* db, const std::string& sql,
                          const std::vector<SqlValue>& params) {
  QueryResult last;
  bool have = false;
  const char* begin = sql.c_str();
  const char* end = begin + sql.size();
  const char* p = begin;
  while (p < end) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v2(db, p, static_cast<int>(end - p), &raw, &tail);
    store_internal::StmtPtr stmt(raw);
    if (rc != SQLITE_OK) {
      std::string msg = sqlite3_errmsg(db);
      int off = sqlite3_error_offset(db);
      if (off >= 0) msg += " (" + Position(sql, static_cast<size_t>(p - begin) + off) + ")";
      return Status::InvalidArgument(std::move(msg));
    }
    p = tail;
    if (!stmt) continue;  // whitespace or a comment
    if (Status s = store_internal::BindAll(db, stmt.get(), params); !s.ok()) return s;
    auto rows = store_internal::CollectRows(db, stmt.get());
    if (!rows.ok()) return rows.status();
    if (!rows->columns.empty() || !have) {
      last = std::move(rows).value();
      have = true;
    }
  }
  if (!have) return Status::InvalidArgument("no SQL statement to run");
  return last;
}

bool IsNumericCell(const QueryResult& r, size_t row, size_t col) {
  return row < r.numeric.size() && col < r.numeric[row].size() && r.numeric[row][col];
}

// A JSON number exactly as JSON spells it (SQLite may print "Inf").
bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  DecodeUtf8(s, [&](uint32_t cp) {
    switch (cp) {
      case '"':
        out += "\\\"";
        return;
      case '\\':
        out += "\\\\";
        return;
      case '\n':
        out += "\\n";
        return;
      case '\r':
        out += "\\r";
        return;
      case '\t':
        out += "\\t";
        return;
      default:
        break;
    }
    if (cp < 0x20 || cp == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
      out += buf;
    } else {
      AppendUtf8(out, cp);
    }
  });
  out.push_back('"');
}

}  // namespace

Result<QueryResult> RunQuery(const std::string& db_path, const std::string& sql,
                             const std::vector<SqlValue>& params) {
  auto db = OpenReadOnly(db_path);
  if (!db.ok()) return db.status();
  return RunOn(db->get(), sql, params);
}

std::string FormatTable(const QueryResult& r) {
  const size_t ncol = r.columns.size();
  std::vector<std::vector<std::pair<std::string, size_t>>> cells;
  std::vector<size_t> width(ncol, 0);
  std::vector<std::pair<std::string, size_t>> header;
  for (size_t c = 0; c < ncol; ++c) {
    header.push_back(TerminalSafe(r.columns[c]));
    width[c] = header.back().second;
  }
  for (const auto& row : r.rows) {
    auto& out = cells.emplace_back();
    for (size_t c = 0; c < ncol; ++c) {
      out.push_back(c < row.size() && row[c] ? TerminalSafe(*row[c])
                                             : std::pair<std::string, size_t>{"NULL", 4});
      width[c] = std::max(width[c], out.back().second);
    }
  }
  std::string text;
  auto line = [&](const std::vector<std::pair<std::string, size_t>>& row, size_t row_index,
                  bool is_header) {
    for (size_t c = 0; c < ncol; ++c) {
      const size_t pad = width[c] - row[c].second;
      const bool right = !is_header && IsNumericCell(r, row_index, c);
      if (c) text += "  ";
      if (right) text.append(pad, ' ');
      text += row[c].first;
      if (!right && c + 1 < ncol) text.append(pad, ' ');
    }
    text += '\n';
  };
  line(header, 0, true);
  for (size_t c = 0; c < ncol; ++c) {
    if (c) text += "  ";
    text.append(width[c], '-');
  }
  text += '\n';
  for (size_t i = 0; i < cells.size(); ++i) line(cells[i], i, false);
  text += "(" + std::to_string(r.rows.size()) + (r.rows.size() == 1 ? " row)\n" : " rows)\n");
  return text;
}

std::string FormatCsv(const QueryResult& r) {
  std::string out;
  auto field = [&](std::string_view s) {
    std::string clean;
    DecodeUtf8(s, [&](uint32_t cp) { AppendUtf8(clean, cp); });
    if (clean.find_first_of(",\"\r\n") == std::string::npos) {
      out += clean;
      return;
    }
    out.push_back('"');
    for (char ch : clean) {
      if (ch == '"') out.push_back('"');
      out.push_back(ch);
    }
    out.push_back('"');
  };
  for (size_t c = 0; c < r.columns.size(); ++c) {
    if (c) out.push_back(',');
    field(r.columns[c]);
  }
  out.push_back('\n');
  for (const auto& row : r.rows) {
    for (size_t c = 0; c < r.columns.size(); ++c) {
      if (c) out.push_back(',');
      if (c < row.size() && row[c]) field(*row[c]);
    }
    out.push_back('\n');
  }
  return out;
}

std::string FormatJson(const QueryResult& r) {
  std::string out = "[";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    out += i ? ",\n  {" : "\n  {";
    const auto& row = r.rows[i];
    for (size_t c = 0; c < r.columns.size(); ++c) {
      if (c) out += ", ";
      AppendJsonString(out, r.columns[c]);
      out += ": ";
      if (c >= row.size() || !row[c]) {
        out += "null";
      } else if (IsNumericCell(r, i, c) && IsJsonNumber(*row[c])) {
        out += *row[c];
      } else {
        AppendJsonString(out, *row[c]);
      }
    }
    out += "}";
  }
  out += r.rows.empty() ? "]\n" : "\n]\n";
  return out;
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
         "se.value AS error";
}

std::string ProbeJoins() {
  return "LEFT JOIN outcome_codes oc ON oc.code = p.outcome "
         "LEFT JOIN strings sv ON sv.id = p.version_id "
         "LEFT JOIN strings sc ON sc.id = p.cipher_id "
         "LEFT JOIN strings sve ON sve.id = p.verify_error_id "
         "LEFT JOIN strings se ON se.id = p.error_id "
         "LEFT JOIN chains ch ON ch.id = p.chain_id "
         "LEFT JOIN certificates c ON c.id = ch.leaf_cert_id ";
}

Result<QueryResult> OriginReport(sqlite3* db, const std::string& path, std::string_view name,
                                 int64_t now_s) {
  auto id = RunOn(db, "SELECT id FROM origins WHERE name = ?1", {std::string(name)});
  if (!id.ok()) return id.status();
  if (id->rows.empty()) {
    return Status::NotFound("no origin named \"" + std::string(name) + "\" in \"" + path + "\"");
  }
  const int64_t origin_id = std::stoll(*id->rows[0][0]);
  auto latest =
      RunOn(db,
            "SELECT 'latest' AS section, " + ProbeColumns() +
                ", s.consecutive_failures AS failures, "
                "strftime('%Y-%m-%dT%H:%M:%fZ', s.failing_since / 1000.0, "
                "'unixepoch') AS failing_since, s.last_finding_code AS finding "
                "FROM variant_state s JOIN variants v ON v.id = s.variant_id "
                "JOIN probes p ON p.id = s.last_probe_id " +
                ProbeJoins() + "WHERE v.origin_id = ?2 ORDER BY v.address, v.sni, v.profile",
            {now_s, origin_id});
  if (!latest.ok()) return latest.status();
  auto probes =
      RunOn(db,
            "SELECT 'probe' AS section, " + ProbeColumns() +
                ", NULL AS failures, NULL AS failing_since, NULL AS finding "
                "FROM probes p JOIN variants v ON v.id = p.variant_id " +
                ProbeJoins() + "WHERE v.origin_id = ?2 ORDER BY p.ts DESC, p.id DESC LIMIT 20",
            {now_s, origin_id});
  if (!probes.ok()) return probes.status();
  QueryResult out = std::move(latest).value();
  for (size_t i = 0; i < probes->rows.size(); ++i) {
    out.rows.push_back(std::move(probes->rows[i]));
    out.numeric.push_back(std::move(probes->numeric[i]));
  }
  return out;
}

}  // namespace

Result<QueryResult> Report(const std::string& db_path, std::string_view kind, std::string_view arg,
                           int64_t now_ms) {
  if (kind != "expiring" && kind != "failing" && kind != "changes" && kind != "origin" &&
      kind != "open_alerts" && kind != "alert_events") {
    return Status::InvalidArgument("unknown report \"" + std::string(kind) +
                                   "\": expected expiring, failing, changes, origin, open_alerts or "
                                   "alert_events");
  }
  auto db = OpenReadOnly(db_path);
  if (!db.ok()) return db.status();
  sqlite3* d = db->get();
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
    return RunOn(d, ExpiringSql(), {now_s, max_days});
  }
  if (kind == "failing") return RunOn(d, std::string(kFailingSql), {now_ms});
  if (kind == "open_alerts") return RunOn(d, "SELECT * FROM open_alerts", {});
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
    return RunOn(d,
                 "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', e.at_ms / 1000, 'unixepoch') AS at, e.kind, e.rule, "
                 "e.severity, e.origin, e.variant, e.finding_code AS finding, "
                 "(SELECT group_concat(o.webhook || ':' || o.state, ' ') FROM outbox o "
                 "WHERE o.event_row = e.id) AS delivery, e.summary FROM alert_events e "
                 "ORDER BY e.id DESC LIMIT ?1",
                 {limit});
  }
  if (kind == "changes") {
    if (!arg.empty()) {
      auto id = RunOn(d, "SELECT id FROM origins WHERE name = ?1", {std::string(arg)});
      if (!id.ok()) return id.status();
      if (id->rows.empty()) {
        return Status::NotFound("no origin named \"" + std::string(arg) + "\" in \"" + db_path +
                                "\"");
      }
    }
    return RunOn(d, "SELECT * FROM cert_changes WHERE ?1 = '' OR origin = ?1", {std::string(arg)});
  }
  if (arg.empty()) return Status::InvalidArgument("report origin: which origin? (give its name)");
  return OriginReport(d, db_path, arg, now_s);
}

}  // namespace originwatch
