// The typed readers of single TOML values and the helpers every part of the
// parser shares (see toml_reader.h).
#include "config/toml_reader.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/names.h"

namespace originwatch::config_internal {

std::string TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

std::string Join(std::span<const std::string_view> words, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += sep;
    out += words[i];
  }
  return out;
}

std::string Suggest(std::string_view word, std::span<const std::string_view> candidates) {
  std::string_view close = Closest(word, candidates);
  if (!close.empty()) return "(did you mean " + Quoted(close) + "?)";
  return "(known: " + Join(candidates, ", ") + ")";
}

std::string QuotedChoices(std::span<const std::string_view> choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += i + 1 == choices.size() ? " or " : ", ";
    out += Quoted(choices[i]);
  }
  return out;
}

bool Contains(std::span<const std::string_view> set, std::string_view word) {
  return std::find(set.begin(), set.end(), word) != set.end();
}

int VersionRank(std::string_view v) {
  for (size_t i = 0; i < std::size(kTlsVersions); ++i) {
    if (kTlsVersions[i] == v) return static_cast<int>(i);
  }
  return -1;
}

std::vector<Entry> InFileOrder(const toml::table& t) {
  std::vector<Entry> out;
  for (auto&& [k, v] : t) out.push_back({&k, &v});
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    const auto& pa = a.key->source().begin;
    const auto& pb = b.key->source().begin;
    return std::pair(pa.line, pa.column) < std::pair(pb.line, pb.column);
  });
  return out;
}

SourcePos PosOf(const toml::source_region& where) {
  return {static_cast<int>(where.begin.line), static_cast<int>(where.begin.column)};
}

SourcePos KeyPos(const toml::table& t, std::string_view key) {
  for (auto&& [k, v] : t) {
    if (k.str() == key) return PosOf(k.source());
  }
  return {};
}

Parser::Parser(std::string file) : file_(std::move(file)) {
  dir_ = std::filesystem::path(file_).parent_path();
}

void Parser::Error(const toml::source_region& where, std::string message) {
  errors_.push_back({file_, static_cast<int>(where.begin.line),
                     static_cast<int>(where.begin.column), std::move(message)});
}
void Parser::Error(const toml::node& n, std::string message) {
  Error(n.source(), std::move(message));
}
void Parser::ErrorWithoutPosition(std::string message) {
  errors_.push_back({file_, 0, 0, std::move(message)});
}

std::string Parser::ResolvePath(const std::string& p) const {
  if (p == ":memory:" || dir_.empty()) return p;
  std::filesystem::path path(p);
  if (path.is_absolute()) return p;
  return (dir_ / path).string();
}

void Parser::CheckKeys(const toml::table& t, std::span<const std::string_view> allowed,
                       const std::string& where) {
  for (const Entry& e : InFileOrder(t)) {
    std::string_view k = e.key->str();
    if (Contains(allowed, k)) continue;
    std::string msg = "unknown key " + Quoted(k) + " in " + where;
    std::string_view close = Closest(k, allowed);
    if (!close.empty()) msg += " (did you mean " + Quoted(close) + "?)";
    Error(e.key->source(), msg);
  }
}

bool Parser::ReadString(const toml::node& n, std::string_view key, const std::string& prefix,
                        std::string* out) {
  if (const auto* s = n.as_string()) {
    *out = s->get();
    return true;
  }
  Error(n, prefix + Quoted(key) + " must be a string, not " + TypeName(n));
  return false;
}

bool Parser::ReadNonEmptyString(const toml::node& n, std::string_view key,
                                const std::string& prefix, std::string* out) {
  if (!ReadString(n, key, prefix, out)) return false;
  if (out->empty()) {
    Error(n, prefix + Quoted(key) + " must not be empty");
    return false;
  }
  return true;
}

bool Parser::ReadInt(const toml::node& n, std::string_view key, const std::string& prefix,
                     int64_t lo, int64_t hi, int64_t* out) {
  const auto* i = n.as_integer();
  if (i == nullptr) {
    Error(n, prefix + Quoted(key) + " must be an integer, not " + TypeName(n));
    return false;
  }
  int64_t v = i->get();
  if (v < lo || v > hi) {
    Error(n, prefix + Quoted(key) + " must be between " + std::to_string(lo) + " and " +
                 std::to_string(hi) + ", not " + std::to_string(v));
    return false;
  }
  *out = v;
  return true;
}

bool Parser::ReadDuration(const toml::node& n, std::string_view key, const std::string& prefix,
                          int64_t* out) {
  int64_t ms = 0;
  std::string shown;
  if (const auto* i = n.as_integer()) {
    int64_t secs = i->get();
    shown = std::to_string(secs);
    if (secs <= 0) {
      Error(n, prefix + Quoted(key) + " must be positive, not " + shown);
      return false;
    }
    if (secs > kMaxDurationMs / 1000) {
      Error(n, prefix + Quoted(key) + " must be at most " + FormatDurationMs(kMaxDurationMs) +
                   ", not " + shown + " seconds");
      return false;
    }
    ms = secs * 1000;
  } else if (const auto* s = n.as_string()) {
    const std::string& text = s->get();
    shown = Quoted(text);
    std::optional<int64_t> parsed = ParseDurationMs(text);
    if (!parsed) {
      if (!text.empty() && text.front() == '-' && ParseDurationMs(text.substr(1))) {
        Error(n, prefix + Quoted(key) + " must be positive, not " + shown);
      } else {
        Error(n, prefix + "bad duration " + shown + " for " + Quoted(key) +
                     ": use a number with a unit, like \"90s\", \"5m\", \"14d\"");
      }
      return false;
    }
    if (*parsed == 0) {
      Error(n, prefix + Quoted(key) + " must be positive, not " + shown);
      return false;
    }
    if (*parsed > kMaxDurationMs) {
      Error(n, prefix + Quoted(key) + " must be at most " + FormatDurationMs(kMaxDurationMs) +
                   ", not " + shown);
      return false;
    }
    ms = *parsed;
  } else {
    Error(n, prefix + Quoted(key) +
                 " must be a duration like \"90s\" or a number of seconds, not " + TypeName(n));
    return false;
  }
  *out = ms;
  return true;
}

bool Parser::ReadStringList(const toml::node& n, std::string_view key, const std::string& prefix,
                            std::vector<Item>* out) {
  const toml::array* a = n.as_array();
  if (a == nullptr) {
    Error(n, prefix + Quoted(key) + " must be an array of strings, not " + TypeName(n));
    return false;
  }
  bool ok = true;
  out->clear();
  for (size_t i = 0; i < a->size(); ++i) {
    const toml::node& elem = *a->get(i);
    if (const auto* s = elem.as_string()) {
      out->push_back({s->get(), &elem});
    } else {
      Error(elem, prefix + Quoted(key) + " must be an array of strings, but element " +
                      std::to_string(i + 1) + " is " + TypeName(elem));
      ok = false;
    }
  }
  return ok;
}

std::vector<std::string> Parser::Values(const std::vector<Item>& items) {
  std::vector<std::string> out;
  out.reserve(items.size());
  for (const Item& i : items) out.push_back(i.value);
  return out;
}

bool Parser::ReadFraction(const toml::node& n, std::string_view key, const std::string& prefix,
                          double* out) {
  double v;
  if (const auto* f = n.as_floating_point()) {
    v = f->get();
  } else if (const auto* i = n.as_integer()) {
    v = static_cast<double>(i->get());
  } else {
    Error(n, prefix + Quoted(key) + " must be a number, not " + TypeName(n));
    return false;
  }
  if (!(v > 0.0 && v < 1.0)) {
    Error(n, prefix + Quoted(key) + " must be a fraction between 0 and 1 (exclusive), like 0.33");
    return false;
  }
  *out = v;
  return true;
}

}  // namespace originwatch::config_internal
