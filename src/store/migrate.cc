// Applying schema migrations in order, each in a transaction.
#include "store/migrate.h"

#include "store/sqlite_util.h"

namespace originwatch::store_internal {

Status ApplyMigrations(sqlite3* db, const std::string& path,
                       const std::vector<Migration>& migrations) {
  const int known = migrations.empty() ? 0 : migrations.back().version;
  auto current = QueryInt(db, "PRAGMA user_version");
  if (!current.ok()) {
    return Status::IoError("database \"" + path + "\": " + current.status().message());
  }
  if (*current > known) {
    return Status::InvalidArgument("database \"" + path + "\" has schema version " +
                                   std::to_string(*current) + ", this originwatch knows up to " +
                                   std::to_string(known) + ": upgrade originwatch");
  }
  for (const Migration& m : migrations) {
    if (m.version <= *current) continue;
    if (Status s = ExecSql(db, "BEGIN IMMEDIATE"); !s.ok()) {
      return Status::IoError("database \"" + path + "\": cannot start migration " + m.name + ": " +
                             s.message());
    }
    Status s = ExecSql(db, m.sql);
    if (s.ok()) s = ExecSql(db, "PRAGMA user_version = " + std::to_string(m.version));
    if (s.ok()) s = ExecSql(db, "COMMIT");
    if (!s.ok()) {
      (void)ExecSql(db, "ROLLBACK");
      return Status::Internal("database \"" + path + "\": migration " + m.name +
                              " failed: " + s.message());
    }
  }
  return Status::Ok();
}

}  // namespace originwatch::store_internal
