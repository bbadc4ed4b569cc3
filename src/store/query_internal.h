// The query path's pieces that fleet_query.cc reuses. Private to src/store.
#pragma once

#include <sqlite3.h>

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

}  // namespace originwatch::store_internal
