// Proves that the row writers of `query` and `report` hold at most a bounded
// look-ahead (table) or a 64 KiB buffer (csv, json), keep every cell whole, and
// never pass a raw control byte.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "originwatch/store.h"

namespace originwatch::testing {
namespace {

struct Capture {
  std::string out;
  size_t writes = 0;
  size_t largest = 0;
  std::function<bool(std::string_view)> Sink() {
    return [this](std::string_view s) {
      out += s;
      ++writes;
      largest = std::max(largest, s.size());
      return true;
    };
  }
};

std::vector<QueryCell> Cells(std::initializer_list<std::string_view> texts) {
  std::vector<QueryCell> cells;
  for (std::string_view t : texts) cells.push_back(QueryCell{t, false, false});
  return cells;
}

TEST(QueryOutputTest, TableSizesColumnsFromTheLookaheadThenStreamsWithoutCutting) {
  Capture cap;
  auto table = MakeRowWriter("table", cap.Sink());
  ASSERT_NE(table, nullptr);
  table->Begin({"name", "n"});
  std::vector<QueryCell> row = Cells({"ab", "7"});
  row[1].numeric = true;
  for (size_t i = 0; i + 1 < kTableLookaheadRows; ++i) ASSERT_TRUE(table->Row(row));
  EXPECT_EQ(cap.out, "") << "nothing is printed before the look-ahead is full";
  ASSERT_TRUE(table->Row(row));  // the look-ahead is full: header and rows go out
  ASSERT_TRUE(table->Row(Cells({"abcdefgh", "123"})));  // wider than the column
  ASSERT_TRUE(table->End());
  EXPECT_EQ(cap.out.rfind("name  n\n----  -\nab    7\n", 0), 0u) << cap.out.substr(0, 80);
  const std::string tail =
      "\nabcdefgh  123\n(" + std::to_string(kTableLookaheadRows + 1) + " rows)\n";
  ASSERT_GE(cap.out.size(), tail.size());
  EXPECT_EQ(cap.out.substr(cap.out.size() - tail.size()), tail);
}

TEST(QueryOutputTest, TablePrintsTheEmptyTextInsteadOfAnEmptyGrid) {
  Capture cap;
  auto table = MakeRowWriter("table", cap.Sink(), "(no rows)\n");
  table->Begin({"a"});
  ASSERT_TRUE(table->End());
  EXPECT_EQ(cap.out, "(no rows)\n");
}

TEST(QueryOutputTest, CsvEscapesEveryControlCharacterAndQuotes) {
  QueryResult r;
  r.columns = {"subject", "note"};
  r.rows.push_back({std::string("CN=x\x1b[2J\0y", 10), std::string("a,\"b\"\r\n\tc\xc2\x9b")});
  r.rows.push_back({std::nullopt, std::string("\xff")});
  EXPECT_EQ(FormatCsv(r),
            "subject,note\n"
            "CN=x\\x1B[2J\\x00y,\"a,\"\"b\"\"\\x0D\\x0A\\x09c\\x9B\"\n"
            ",\xef\xbf\xbd\n");
}

TEST(QueryOutputTest, CsvAndJsonFlushInBoundedPiecesAndJsonStaysOneDocument) {
  for (const char* format : {"csv", "json"}) {
    Capture cap;
    auto w = MakeRowWriter(format, cap.Sink());
    w->Begin({"id", "name"});
    std::vector<QueryCell> row = Cells({"", "host.example.test"});
    std::string id;
    for (int i = 0; i < 100000; ++i) {
      id = std::to_string(i);
      row[0] = QueryCell{id, false, true};
      ASSERT_TRUE(w->Row(row));
    }
    ASSERT_TRUE(w->End());
    EXPECT_GT(cap.writes, 10u) << format;
    EXPECT_LT(cap.largest, 80u * 1024) << format;
    if (std::string(format) == "json") {
      auto doc = nlohmann::json::parse(cap.out, nullptr, false);
      ASSERT_FALSE(doc.is_discarded());
      ASSERT_EQ(doc.size(), 100000u);
      EXPECT_EQ(doc[99999]["id"], 99999);
    } else {
      EXPECT_EQ(std::count(cap.out.begin(), cap.out.end(), '\n'), 100001);
    }
  }
}

TEST(QueryOutputTest, AFailedWriteStopsTheRows) {
  auto w = MakeRowWriter("csv", [](std::string_view) { return false; });
  w->Begin({"x"});
  std::string big(70 * 1024, 'x');
  EXPECT_FALSE(w->Row(Cells({big})));
  EXPECT_EQ(MakeRowWriter("xml", [](std::string_view) { return true; }), nullptr);
}

}  // namespace
}  // namespace originwatch::testing
