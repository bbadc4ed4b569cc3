// SQLite helpers for src/store.
#include "store/sqlite_util.h"

#include <cstdio>

namespace originwatch::store_internal {

Status SqliteError(sqlite3* db, std::string_view what) {
  int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  std::string msg(what);
  if (!msg.empty()) msg += ": ";
  msg += db ? sqlite3_errmsg(db) : "out of memory";
  if ((code & 0xff) == SQLITE_IOERR || (code & 0xff) == SQLITE_CANTOPEN ||
      (code & 0xff) == SQLITE_READONLY || (code & 0xff) == SQLITE_FULL) {
    return Status::IoError(std::move(msg));
  }
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) {
    return Status::Unavailable(std::move(msg));
  }
  return Status::Internal(std::move(msg));
}

Status ExecSql(sqlite3* db, std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  sqlite3_free(err);  // the same text stays available from sqlite3_errmsg
  return SqliteError(db, "");
}

Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db);
    int offset = sqlite3_error_offset(db);
    if (offset >= 0) msg += " (at offset " + std::to_string(offset) + " of the SQL)";
    if ((rc & 0xff) == SQLITE_NOTADB) return Status::IoError(msg);
    return Status::InvalidArgument(std::move(msg));
  }
  if (!stmt) return Status::InvalidArgument("empty SQL statement");
  return stmt;
}

Status BindAll(sqlite3* db, sqlite3_stmt* stmt, const std::vector<SqlValue>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    int idx = static_cast<int>(i) + 1;
    int rc = SQLITE_OK;
    const SqlValue& v = params[i];
    if (std::holds_alternative<std::nullptr_t>(v)) {
      rc = sqlite3_bind_null(stmt, idx);
    } else if (const auto* n = std::get_if<int64_t>(&v)) {
      rc = sqlite3_bind_int64(stmt, idx, *n);
    } else if (const auto* d = std::get_if<double>(&v)) {
      rc = sqlite3_bind_double(stmt, idx, *d);
    } else {
      const auto& s = std::get<std::string>(v);
      rc = sqlite3_bind_text(stmt, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) return SqliteError(db, "bind parameter " + std::to_string(idx));
  }
  return Status::Ok();
}

namespace {

std::string HexOf(const unsigned char* p, int n) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(static_cast<size_t>(n) * 2);
  for (int i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

}  // namespace

Result<QueryResult> CollectRows(sqlite3* db, sqlite3_stmt* stmt) {
  QueryResult result;
  int ncol = sqlite3_column_count(stmt);
  for (int i = 0; i < ncol; ++i) {
    const char* name = sqlite3_column_name(stmt, i);
    result.columns.push_back(name ? name : "");
  }
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return SqliteError(db, "query failed");
    std::vector<std::optional<std::string>> row(ncol);
    std::vector<bool> numeric(ncol, false);
    for (int i = 0; i < ncol; ++i) {
      switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_NULL:
          break;
        case SQLITE_BLOB: {
          const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(stmt, i));
          row[i] = HexOf(p, sqlite3_column_bytes(stmt, i));
          break;
        }
        case SQLITE_INTEGER:
        case SQLITE_FLOAT:
          numeric[i] = true;
          [[fallthrough]];
        default: {
          const auto* p = sqlite3_column_text(stmt, i);
          int n = sqlite3_column_bytes(stmt, i);
          row[i] = std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
        }
      }
    }
    result.rows.push_back(std::move(row));
    result.numeric.push_back(std::move(numeric));
  }
  return result;
}

Result<int64_t> QueryInt(sqlite3* db, std::string_view sql) {
  auto stmt = Prepare(db, sql);
  if (!stmt.ok()) return stmt.status();
  int rc = sqlite3_step(stmt->get());
  if (rc == SQLITE_ROW) return static_cast<int64_t>(sqlite3_column_int64(stmt->get(), 0));
  if (rc == SQLITE_DONE) return Status::NotFound("no row for: " + std::string(sql));
  return SqliteError(db, "query failed");
}

Result<sqlite3_stmt*> StmtCache::Get(std::string_view sql) {
  auto it = stmts_.find(sql);
  if (it == stmts_.end()) {
    auto stmt = Prepare(db_, sql);
    if (!stmt.ok()) return stmt.status();
    it = stmts_.emplace(std::string(sql), std::move(stmt).value()).first;
  }
  sqlite3_stmt* s = it->second.get();
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return s;
}

Result<sqlite3_stmt*> StmtCache::Get(size_t slot, std::string_view sql) {
  if (slot >= slots_.size()) slots_.resize(slot + 1);
  StmtPtr& stmt = slots_[slot];
  if (!stmt) {
    auto prepared = Prepare(db_, sql);
    if (!prepared.ok()) return prepared.status();
    stmt = std::move(prepared).value();
  } else {
    sqlite3_reset(stmt.get());
    sqlite3_clear_bindings(stmt.get());
  }
  return stmt.get();
}

std::string ParentDir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace originwatch::store_internal
