// Schema migrations: the embedded schema/*.sql files and the code that applies
// them. Private to src/store.
#pragma once

#include <sqlite3.h>

#include <string>
#include <vector>

#include "originwatch/status.h"

namespace originwatch::store_internal {

struct Migration {
  int version;       // PRAGMA user_version after it is applied
  const char* name;  // "001_init.sql"
  const char* sql;
};

// schema/*.sql in order (generated at build time: schema_embedded.cc).
const std::vector<Migration>& EmbeddedMigrations();

// Applies the migrations newer than the database's user_version, in order,
// each in its own IMMEDIATE transaction that also sets user_version. A database
// newer than the last migration is refused: "database "<path>" has schema
// version 7, this originwatch knows up to 1: upgrade originwatch".
// `migrations` must be numbered 1..N without gaps.
Status ApplyMigrations(sqlite3* db, const std::string& path,
                       const std::vector<Migration>& migrations);

}  // namespace originwatch::store_internal
