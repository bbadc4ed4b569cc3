// The query path's pieces that fleet_query.cc reuses. Private to src/store.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>
#include <vector>

#include "originwatch/store.h"

namespace originwatch::store_internal {

// StreamQuery on `db`, a connection the caller opened read-only (query_only):
// the same authorizer (ATTACH, DETACH, VACUUM, load_extension(), unsafe
// PRAGMAs refused), limits and error messages.
Result<QueryStreamResult> StreamOnConnection(sqlite3* db, const std::string& sql,
                                             const std::vector<SqlValue>& params,
                                             const QueryLimits& limits, RowSink& sink);

// "file:" URI of a path, percent-encoding what a URI would misread
// (defined in fleet_query.cc).
std::string FileUriOf(const std::string& path);

// Keeps every row in memory: RunQuery, Report, and the fleet's report, which
// merges the reports of several databases.
class Collector : public RowSink {
 public:
  QueryResult result;
  void Begin(const std::vector<std::string>& columns) override { result.columns = columns; }
  bool Row(const std::vector<QueryCell>& cells) override {
    auto& row = result.rows.emplace_back();
    auto& numeric = result.numeric.emplace_back();
    for (const QueryCell& c : cells) {
      row.push_back(c.null ? std::nullopt : std::optional<std::string>(std::string(c.text)));
      numeric.push_back(c.numeric);
    }
    return true;
  }
  bool End() override { return true; }
};

}  // namespace originwatch::store_internal
