// Fuzzes the output formats of `originwatch query` and `report` (FormatJson,
// FormatCsv, FormatTable over the row writers of src/store) with column names
// and cells cut from the input, as hostile certificate text would reach them:
// the JSON must parse with one object per row, and CSV and table output must
// carry no control character but the line ends, one line per CSV row.
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "originwatch/store.h"

namespace {

// Fields separated by '\x1f' (ASCII unit separator).
std::string_view NextField(std::string_view& rest) {
  size_t end = rest.find('\x1f');
  std::string_view out = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  return out;
}

// SQLite writes an INTEGER or REAL as a number a double can hold (or "Inf",
// which the JSON writer turns into a string); a number beyond a double's range
// is valid JSON that no parser here reads, and never comes from SQLite.
bool SqliteCouldWrite(std::string_view text) {
  std::string s(text);
  errno = 0;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return errno != ERANGE;
}

bool OnlyLineEndControls(const std::string& s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

// Input: byte 0 = the number of columns (1..8); then fields: the column
// names, then the cells row by row, each cell's first byte its kind (0 text,
// 1 INTEGER or REAL, 2 NULL) and the rest its text.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t ncols = 1 + data[0] % 8;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  originwatch::QueryResult r;
  for (size_t c = 0; c < ncols; ++c) r.columns.emplace_back(NextField(rest));
  while (!rest.empty() && r.rows.size() < 64) {
    std::vector<std::optional<std::string>> row;
    std::vector<bool> numeric;
    for (size_t c = 0; c < ncols; ++c) {
      std::string_view f = NextField(rest);
      int kind = f.empty() ? 0 : static_cast<unsigned char>(f[0]) % 3;
      if (!f.empty()) f.remove_prefix(1);
      if (kind == 1 && !SqliteCouldWrite(f)) kind = 0;
      row.push_back(kind == 2 ? std::nullopt : std::optional<std::string>(f));
      numeric.push_back(kind == 1);
    }
    r.rows.push_back(std::move(row));
    r.numeric.push_back(std::move(numeric));
  }

  const std::string json = originwatch::FormatJson(r);
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!j.is_discarded());
  FUZZ_CHECK(j.is_array() && j.size() == r.rows.size());
  for (const auto& row : j) FUZZ_CHECK(row.is_object());

  const std::string csv = originwatch::FormatCsv(r);
  FUZZ_CHECK(OnlyLineEndControls(csv));
  size_t lines = 0;
  for (char ch : csv) lines += ch == '\n';
  FUZZ_CHECK(lines == r.rows.size() + 1);  // the header, then one line per row

  const std::string table = originwatch::FormatTable(r);
  FUZZ_CHECK(OnlyLineEndControls(table));
  return 0;
}
