// Small RAII and error helpers over the SQLite C API, private to src/store.
//
// Ownership: a DbPtr owns its connection (sqlite3_close_v2 on destruction), a
// StmtPtr its statement (sqlite3_finalize). A connection and its statements are
// used by one thread at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "originwatch/status.h"
#include "originwatch/store.h"

namespace originwatch::store_internal {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// "what: <sqlite message>" ("<sqlite message>" when what is empty) as a Status (IoError for I/O,
// Internal otherwise).
Status SqliteError(sqlite3* db, std::string_view what);

// Runs SQL without results (one or more statements).
Status ExecSql(sqlite3* db, std::string_view sql);

// Prepares one statement; the error names the SQL position when SQLite has it.
Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql);

// Binds ?1..?N from values.
Status BindAll(sqlite3* db, sqlite3_stmt* stmt, const std::vector<SqlValue>& params);

// Steps a statement to completion, collecting its rows.
Result<QueryResult> CollectRows(sqlite3* db, sqlite3_stmt* stmt);

// Reads one integer with `sql` (first column of the first row).
Result<int64_t> QueryInt(sqlite3* db, std::string_view sql);

// Prepared statements keyed by their SQL text, prepared on first use and reset
// (bindings cleared) on each Get. The statements of the write path also have a
// slot (a small integer, store_impl.h Sql): Get(slot, sql) finds them by index,
// without hashing their text.
class StmtCache {
 public:
  explicit StmtCache(sqlite3* db) : db_(db) {}
  Result<sqlite3_stmt*> Get(std::string_view sql);
  Result<sqlite3_stmt*> Get(size_t slot, std::string_view sql);
  void Clear() {
    stmts_.clear();
    slots_.clear();
  }

 private:
  // Transparent hash: look up by string_view without building a std::string.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  sqlite3* db_;
  std::unordered_map<std::string, StmtPtr, Hash, std::equal_to<>> stmts_;
  std::vector<StmtPtr> slots_;
};

// Binds parameters of one row by index and remembers the first failure.
// Text and blobs are bound SQLITE_STATIC: the caller keeps them alive and
// unchanged until the statement is stepped and reset.
class Binder {
 public:
  explicit Binder(sqlite3_stmt* s) : s_(s) {}
  Binder& Int(int i, int64_t v) { return Check(sqlite3_bind_int64(s_, i, v)); }
  Binder& Null(int i) { return Check(sqlite3_bind_null(s_, i)); }
  Binder& Text(int i, const std::string& v) {
    return Check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
  }
  Binder& NullIfNegative(int i, int64_t v) { return v < 0 ? Null(i) : Int(i, v); }
  Binder& IdOrNull(int i, int64_t v) { return v == 0 ? Null(i) : Int(i, v); }
  Binder& TextOrNull(int i, const std::string& v) { return v.empty() ? Null(i) : Text(i, v); }
  bool ok() const { return rc_ == SQLITE_OK; }

 private:
  Binder& Check(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
    return *this;
  }
  sqlite3_stmt* s_;
  int rc_ = SQLITE_OK;
};

// Parent directory of a path ("." if none).
std::string ParentDir(const std::string& path);

}  // namespace originwatch::store_internal
