// Output formats of the read side (table, CSV, JSON), written row by row as a
// query steps, and their one-shot forms over a QueryResult.
#include <algorithm>
#include <cstdio>

#include "originwatch/store.h"
#include "originwatch/text.h"

namespace originwatch {
namespace {

constexpr size_t kFlushBytes = 64 * 1024;
constexpr size_t kTableLookaheadBytes = 1024 * 1024;

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

// A CSV field: controls as \xNN (TerminalSafe, like the table), invalid UTF-8
// as U+FFFD, RFC 4180 quotes around a field with a comma or a quote.
void AppendCsvField(std::string& out, std::string_view s) {
  std::string clean = TerminalSafe(s).first;
  if (clean.find_first_of(",\"") == std::string::npos) {
    out += clean;
    return;
  }
  out.push_back('"');
  for (char ch : clean) {
    if (ch == '"') out.push_back('"');
    out.push_back(ch);
  }
  out.push_back('"');
}

// Buffers output and hands it to the byte sink in large pieces.
class Writer : public RowSink {
 public:
  explicit Writer(std::function<bool(std::string_view)> write) : write_(std::move(write)) {}

 protected:
  bool MaybeFlush() { return buf_.size() < kFlushBytes || Flush(); }
  bool Flush() {
    if (buf_.empty()) return ok_;
    if (ok_ && !write_(buf_)) ok_ = false;
    buf_.clear();
    return ok_;
  }
  std::string buf_;

 private:
  std::function<bool(std::string_view)> write_;
  bool ok_ = true;
};

class CsvWriter : public Writer {
 public:
  using Writer::Writer;
  void Begin(const std::vector<std::string>& columns) override {
    for (size_t c = 0; c < columns.size(); ++c) {
      if (c) buf_.push_back(',');
      AppendCsvField(buf_, columns[c]);
    }
    buf_.push_back('\n');
  }
  bool Row(const std::vector<QueryCell>& cells) override {
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c) buf_.push_back(',');
      if (!cells[c].null) AppendCsvField(buf_, cells[c].text);
    }
    buf_.push_back('\n');
    return MaybeFlush();
  }
  bool End() override { return Flush(); }
};

class JsonWriter : public Writer {
 public:
  using Writer::Writer;
  void Begin(const std::vector<std::string>& columns) override { columns_ = columns; }
  bool Row(const std::vector<QueryCell>& cells) override {
    buf_ += rows_++ ? ",\n  {" : "[\n  {";
    for (size_t c = 0; c < columns_.size(); ++c) {
      if (c) buf_ += ", ";
      AppendJsonString(buf_, columns_[c]);
      buf_ += ": ";
      if (c >= cells.size() || cells[c].null) {
        buf_ += "null";
      } else if (cells[c].numeric && IsJsonNumber(cells[c].text)) {
        buf_ += cells[c].text;
      } else {
        AppendJsonString(buf_, cells[c].text);
      }
    }
    buf_ += "}";
    return MaybeFlush();
  }
  bool End() override {
    buf_ += rows_ ? "\n]\n" : "[]\n";
    return Flush();
  }

 private:
  std::vector<std::string> columns_;
  size_t rows_ = 0;
};

// Aligned columns. The first rows are held back to size the columns; once
// the look-ahead is full, they are printed and later rows stream with the same
// widths (a longer cell shifts the rest of its own row, nothing is cut).
class TableWriter : public Writer {
 public:
  TableWriter(std::function<bool(std::string_view)> write, std::string empty_text)
      : Writer(std::move(write)), empty_text_(std::move(empty_text)) {}

  void Begin(const std::vector<std::string>& columns) override {
    for (const std::string& c : columns) {
      header_.push_back(TerminalSafe(c));
      width_.push_back(header_.back().second);
    }
  }

  bool Row(const std::vector<QueryCell>& in) override {
    Line line;
    for (size_t c = 0; c < width_.size(); ++c) {
      const bool null = c >= in.size() || in[c].null;
      line.cells.push_back(null ? Cell{"NULL", 4} : TerminalSafe(in[c].text));
      line.right.push_back(!null && in[c].numeric);
    }
    ++rows_;
    if (streaming_) {
      Print(line, false);
      return MaybeFlush();
    }
    for (size_t c = 0; c < width_.size(); ++c) {
      width_[c] = std::max(width_[c], line.cells[c].second);
      held_bytes_ += line.cells[c].first.size();
    }
    held_.push_back(std::move(line));
    if (held_.size() < kTableLookaheadRows && held_bytes_ < kTableLookaheadBytes) return true;
    return Release();
  }

  bool End() override {
    if (!streaming_ && held_.empty() && !empty_text_.empty()) {
      buf_ += empty_text_;
      return Flush();
    }
    if (!streaming_ && !Release()) return false;
    buf_ += "(" + std::to_string(rows_) + (rows_ == 1 ? " row)\n" : " rows)\n");
    return Flush();
  }

 private:
  using Cell = std::pair<std::string, size_t>;  // text, width in characters
  struct Line {
    std::vector<Cell> cells;
    std::vector<bool> right;  // numbers are right-aligned
  };

  // Prints the header and the held rows; from now on rows stream.
  bool Release() {
    streaming_ = true;
    Line header{header_, std::vector<bool>(header_.size(), false)};
    Print(header, true);
    for (size_t c = 0; c < width_.size(); ++c) {
      if (c) buf_ += "  ";
      buf_.append(width_[c], '-');
    }
    buf_ += '\n';
    for (const Line& l : held_) {
      Print(l, false);
      if (!MaybeFlush()) return false;
    }
    held_.clear();
    held_.shrink_to_fit();
    return MaybeFlush();
  }

  void Print(const Line& l, bool is_header) {
    const size_t n = width_.size();
    for (size_t c = 0; c < n; ++c) {
      const size_t w = l.cells[c].second;
      const size_t pad = width_[c] > w ? width_[c] - w : 0;
      const bool right = !is_header && l.right[c];
      if (c) buf_ += "  ";
      if (right) buf_.append(pad, ' ');
      buf_ += l.cells[c].first;
      if (!right && c + 1 < n) buf_.append(pad, ' ');
    }
    buf_ += '\n';
  }

  std::string empty_text_;
  std::vector<Cell> header_;
  std::vector<size_t> width_;
  std::vector<Line> held_;
  size_t held_bytes_ = 0;
  size_t rows_ = 0;
  bool streaming_ = false;
};

std::string Format(std::string_view format, const QueryResult& r) {
  std::string out;
  auto writer = MakeRowWriter(format, [&](std::string_view s) {
    out += s;
    return true;
  });
  writer->Begin(r.columns);
  std::vector<QueryCell> cells(r.columns.size());
  for (size_t i = 0; i < r.rows.size(); ++i) {
    for (size_t c = 0; c < cells.size(); ++c) {
      const bool have = c < r.rows[i].size() && r.rows[i][c].has_value();
      cells[c].null = !have;
      cells[c].text = have ? std::string_view(*r.rows[i][c]) : std::string_view();
      cells[c].numeric = i < r.numeric.size() && c < r.numeric[i].size() && r.numeric[i][c];
    }
    writer->Row(cells);
  }
  writer->End();
  return out;
}

}  // namespace

std::unique_ptr<RowSink> MakeRowWriter(std::string_view format,
                                       std::function<bool(std::string_view)> write,
                                       std::string empty_text) {
  if (format == "csv") return std::make_unique<CsvWriter>(std::move(write));
  if (format == "json") return std::make_unique<JsonWriter>(std::move(write));
  if (format == "table")
    return std::make_unique<TableWriter>(std::move(write), std::move(empty_text));
  return nullptr;
}

std::string FormatTable(const QueryResult& r) { return Format("table", r); }
std::string FormatCsv(const QueryResult& r) { return Format("csv", r); }
std::string FormatJson(const QueryResult& r) { return Format("json", r); }

}  // namespace originwatch
