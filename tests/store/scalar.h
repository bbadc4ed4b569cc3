// The store tests' one-cell reads through the read-only query API.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "originwatch/store.h"

namespace originwatch::testing {

// First cell of the first row of a read-only query on db ("NULL" for NULL,
// "<no row>" when there is none; a failing query is a test failure).
inline std::string ScalarOf(const std::string& db, const std::string& sql) {
  auto r = RunQuery(db, sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status().message();
  if (!r.ok() || r->rows.empty() || r->rows[0].empty()) return "<no row>";
  return r->rows[0][0].value_or("NULL");
}

}  // namespace originwatch::testing
