// The pre-scanner of config/bounds.h: one pass over the text, positions
// computed only when there is an error to report.
//
// Grammar it follows (TOML 1.0, lexically):
//   line   := ws ( comment | header | keyval )? ws comment? newline
//   header := '[' '['? key ']' ']'?
//   keyval := key ws '=' value
//   key    := part ( ws '.' ws part )*   part := bare | "basic" | 'literal'
//   value  := string | '[' values ']' | '{' keyvals '}' | scalar
//   scalar := anything up to , ] } # or a newline (numbers, dates, booleans)
// Where the text leaves this grammar the scanner is "lost": it resumes at the
// next line, at the top level.
#include "config/bounds.h"

#include <algorithm>
#include <string>

#include "config/names.h"

namespace originwatch {
namespace {

using config_internal::Quoted;

enum class Step { kOk, kLost, kError };

class Scanner {
 public:
  Scanner(std::string_view text, const std::string& file) : t_(text), file_(file) {}

  std::optional<ConfigError> Run() {
    if (t_.substr(0, 3) == "\xEF\xBB\xBF") p_ = 3;
    while (p_ < t_.size()) {
      if (Line() == Step::kError) return std::move(error_);
    }
    return std::nullopt;
  }

 private:
  bool End() const { return p_ >= t_.size(); }
  char Peek(size_t ahead = 0) const { return p_ + ahead < t_.size() ? t_[p_ + ahead] : '\0'; }
  bool At(std::string_view s) const { return t_.substr(p_, s.size()) == s; }

  void SkipBlanks() {
    while (!End() && (t_[p_] == ' ' || t_[p_] == '\t')) ++p_;
  }
  void SkipToLineEnd() {
    size_t nl = t_.find('\n', p_);
    p_ = nl == std::string_view::npos ? t_.size() : nl;
  }
  // Inside arrays (and, leniently, inline tables): blanks, newlines, comments.
  void SkipSpaceAndComments() {
    while (!End()) {
      char c = t_[p_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++p_;
      } else if (c == '#') {
        SkipToLineEnd();
      } else {
        return;
      }
    }
  }

  // One line at the top level (with the lines a multi-line value spans); on
  // return p_ is at the start of the next line to read.
  Step Line() {
    const size_t begin = p_;
    Step s = LineBody();
    if (s == Step::kError) return s;
    if (s == Step::kOk) {
      SkipBlanks();
      if (Peek() == '#') SkipToLineEnd();
      if (Peek() == '\r') ++p_;
      if (!End() && Peek() != '\n') s = Step::kLost;
    }
    if (s == Step::kLost) {
      // Lost on a later line than this one began (inside an array, say): that
      // line is read again from its start, so a key on it is still checked.
      const size_t nl = p_ == 0 ? std::string_view::npos : t_.rfind('\n', p_ - 1);
      const size_t lost_line = nl == std::string_view::npos ? 0 : nl + 1;
      if (lost_line > begin) {
        p_ = lost_line;
        return Step::kOk;
      }
    }
    SkipToLineEnd();
    if (!End()) ++p_;
    return Step::kOk;
  }

  Step LineBody() {
    SkipBlanks();
    char c = Peek();
    if (End() || c == '\n' || c == '\r' || c == '#') return Step::kOk;
    if (c == '[') {
      const size_t header = p_;
      ++p_;
      bool array = Peek() == '[';
      if (array) ++p_;
      if (Step s = Key(array ? "array-of-tables header" : "table header", header); s != Step::kOk)
        return s;
      SkipBlanks();
      if (Peek() != ']') return Step::kLost;
      ++p_;
      if (array) {
        if (Peek() != ']') return Step::kLost;
        ++p_;
      }
      return Step::kOk;
    }
    return KeyValue(0);
  }

  Step KeyValue(int depth) {
    SkipBlanks();
    if (Step s = Key("key", p_); s != Step::kOk) return s;
    SkipBlanks();
    if (Peek() != '=') return Step::kLost;
    ++p_;
    return Value(depth);
  }

  static bool IsBare(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
  }

  // A dotted key; what names it in messages ("key", "table header", ...),
  // report_at is where they point (a header's '['). The whole key is read
  // before the limits are checked, so that the message can say, with its
  // "...", that the quoted excerpt is not all of it.
  Step Key(const char* what, size_t report_at) {
    SkipBlanks();
    const size_t start = p_;
    size_t end = p_;
    int parts = 0;
    Step s = Step::kOk;
    for (;;) {
      SkipBlanks();
      char c = Peek();
      if (IsBare(c)) {
        while (!End() && IsBare(t_[p_])) ++p_;
      } else if (c == '"') {
        s = BasicLine();
      } else if (c == '\'') {
        s = LiteralLine();
      } else {
        s = Step::kLost;
      }
      if (s != Step::kOk) break;
      ++parts;
      end = p_;
      SkipBlanks();
      if (Peek() != '.') break;
      ++p_;
    }
    const std::string_view written = t_.substr(start, end - start);
    if (parts > kMaxKeyParts) {
      return Fail(report_at, std::string(what) + " " + Quoted(written) + " has more than " +
                                 std::to_string(kMaxKeyParts) + " dotted parts (the limit is " +
                                 std::to_string(kMaxKeyParts) + ")");
    }
    if (written.size() > kMaxKeyBytes) {
      return Fail(report_at, std::string(what) + " " + Quoted(written) + " is longer than " +
                                 std::to_string(kMaxKeyBytes) + " bytes (the limit is 1 KiB)");
    }
    return s;
  }

  Step Value(int depth) {
    SkipBlanks();
    char c = Peek();
    if (c == '"') return At("\"\"\"") ? BasicMulti() : BasicLine();
    if (c == '\'') return At("'''") ? LiteralMulti() : LiteralLine();
    if (c == '[' || c == '{') {
      if (depth >= kMaxNesting) {
        return Fail(p_, "arrays and inline tables nested more than " +
                            std::to_string(kMaxNesting) + " deep (the limit is " +
                            std::to_string(kMaxNesting) + ")");
      }
      ++p_;
      return c == '[' ? Array(depth + 1) : InlineTable(depth + 1);
    }
    const size_t start = p_;
    while (!End()) {
      c = t_[p_];
      if (c == ',' || c == ']' || c == '}' || c == '#' || c == '\n' || c == '\r') break;
      ++p_;
    }
    return p_ > start ? Step::kOk : Step::kLost;
  }

  // After '['.
  Step Array(int depth) {
    for (;;) {
      SkipSpaceAndComments();
      if (Peek() == ']') {
        ++p_;
        return Step::kOk;
      }
      if (Step s = Value(depth); s != Step::kOk) return s;
      SkipSpaceAndComments();
      if (Peek() == ',') {
        ++p_;
      } else if (Peek() != ']') {
        return Step::kLost;
      }
    }
  }

  // After '{'. Newlines and comments are not TOML 1.0 here; toml++ says so,
  // and the scanner still checks the keys around them.
  Step InlineTable(int depth) {
    for (;;) {
      SkipSpaceAndComments();
      if (Peek() == '}') {
        ++p_;
        return Step::kOk;
      }
      if (Step s = KeyValue(depth); s != Step::kOk) return s;
      SkipSpaceAndComments();
      if (Peek() == ',') {
        ++p_;
      } else if (Peek() != '}') {
        return Step::kLost;
      }
    }
  }

  // "..." on one line; backslash escapes the next byte.
  Step BasicLine() {
    ++p_;
    while (!End()) {
      char c = t_[p_];
      if (c == '\\') {
        p_ += 2;
      } else if (c == '"') {
        ++p_;
        return Step::kOk;
      } else if (c == '\n') {
        return Step::kLost;
      } else {
        ++p_;
      }
    }
    p_ = std::min(p_, t_.size());
    return Step::kLost;
  }

  // '...' on one line, no escapes.
  Step LiteralLine() {
    ++p_;
    size_t q = t_.find_first_of("'\n", p_);
    if (q == std::string_view::npos || t_[q] == '\n') {
      p_ = q == std::string_view::npos ? t_.size() : q;
      return Step::kLost;
    }
    p_ = q + 1;
    return Step::kOk;
  }

  // """...""": a backslash escapes the next byte; up to two more quotes may
  // close it ("""a""""" is a"").
  Step BasicMulti() {
    p_ += 3;
    while (!End()) {
      char c = t_[p_];
      if (c == '\\') {
        p_ += 2;
      } else if (At("\"\"\"")) {
        p_ += 3;
        for (int i = 0; i < 2 && Peek() == '"'; ++i) ++p_;
        return Step::kOk;
      } else {
        ++p_;
      }
    }
    p_ = t_.size();
    return Step::kLost;
  }

  Step LiteralMulti() {
    size_t q = t_.find("'''", p_ + 3);
    if (q == std::string_view::npos) {
      p_ = t_.size();
      return Step::kLost;
    }
    p_ = q + 3;
    for (int i = 0; i < 2 && Peek() == '\''; ++i) ++p_;
    return Step::kOk;
  }

  // Lines count '\n'; columns count UTF-8 code points, as toml++ does.
  Step Fail(size_t at, std::string message) {
    const std::string_view before = t_.substr(0, at);
    const int line = 1 + static_cast<int>(std::count(before.begin(), before.end(), '\n'));
    const size_t line_start = before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
    int column = 1;
    for (size_t i = line_start; i < at; ++i) {
      if ((static_cast<unsigned char>(t_[i]) & 0xC0) != 0x80) ++column;
    }
    error_ = ConfigError{file_, line, column, std::move(message)};
    return Step::kError;
  }

  std::string_view t_;
  const std::string& file_;
  size_t p_ = 0;
  std::optional<ConfigError> error_;
};

}  // namespace

std::optional<ConfigError> CheckConfigBounds(std::string_view text, const std::string& file) {
  if (text.size() > kMaxConfigBytes) {
    return ConfigError{file, 0, 0,
                       "the file is " + std::to_string(text.size()) +
                           " bytes; the limit is 32 MiB (" + std::to_string(kMaxConfigBytes) +
                           " bytes)"};
  }
  return Scanner(text, file).Run();
}

}  // namespace originwatch
