// A strict reader of the Prometheus text exposition format 0.0.4 (the
// "Exposition formats" page of prometheus.io): what a scrape must satisfy for
// Prometheus to take it, checked line by line, plus the conventions this
// project keeps (every family has HELP and TYPE; counters end in _total).
// Used by the metrics format test and by the end-to-end endpoint test.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace originwatch::testing {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromScrape {
  std::vector<PromSample> samples;
  std::map<std::string, std::string> types;  // family -> type
  std::vector<std::string> errors;           // empty = valid

  // Samples of `name` whose labels include every pair of `match`.
  std::vector<const PromSample*> Find(const std::string& name,
                                      const std::map<std::string, std::string>& match = {}) const {
    std::vector<const PromSample*> out;
    for (const PromSample& s : samples) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : match) {
        auto it = s.labels.find(k);
        ok = ok && it != s.labels.end() && it->second == v;
      }
      if (ok) out.push_back(&s);
    }
    return out;
  }
};

namespace prom_detail {

inline bool MetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

inline bool LabelName(std::string_view s) {
  if (s.empty() || s.starts_with("__")) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

inline bool Value(std::string_view s, double* out) {
  if (s == "+Inf") { *out = INFINITY; return true; }
  if (s == "-Inf") { *out = -INFINITY; return true; }
  if (s == "NaN") { *out = NAN; return true; }
  if (s.empty()) return false;
  const std::string str(s);
  char* end = nullptr;
  *out = std::strtod(str.c_str(), &end);
  return end == str.c_str() + str.size() && str.find_first_of("xXpP") == std::string::npos;
}

// The family a sample belongs to: histograms' _bucket/_sum/_count.
inline std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string_view sv(suffix);
    if (name.size() > sv.size() && name.ends_with(sv)) {
      const std::string base = name.substr(0, name.size() - sv.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

}  // namespace prom_detail

inline PromScrape ParsePromText(std::string_view text) {
  using namespace prom_detail;
  PromScrape r;
  auto error = [&](size_t line, const std::string& msg) { r.errors.push_back("line " + std::to_string(line) + ": " + msg); };
  if (!text.empty() && text.back() != '\n') error(0, "the last line does not end with a line feed");
  std::set<std::string> helped, done_families, series;
  std::string current;  // the family whose samples are being read
  size_t n = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++n;
    if (line.empty()) continue;
    if (line.find('\r') != std::string_view::npos) error(n, "carriage return");
    if (line.starts_with("#")) {
      if (!line.starts_with("# HELP ") && !line.starts_with("# TYPE ")) continue;  // a comment
      const bool help = line.starts_with("# HELP ");
      std::string_view rest = line.substr(7);
      const size_t sp = rest.find(' ');
      const std::string name(rest.substr(0, sp));
      if (!MetricName(name)) error(n, "bad metric name in metadata: " + name);
      if (done_families.count(name) > 0) error(n, "metadata of " + name + " after its samples ended");
      if (help) {
        if (!helped.insert(name).second) error(n, "second HELP for " + name);
        const std::string_view doc = sp == std::string_view::npos ? "" : rest.substr(sp + 1);
        for (size_t i = 0; i < doc.size(); ++i) {
          if (doc[i] == '\\' && (i + 1 >= doc.size() || (doc[i + 1] != '\\' && doc[i + 1] != 'n')))
            error(n, "bad escape in HELP of " + name);
          if (doc[i] == '\\') ++i;
        }
      } else {
        const std::string type(sp == std::string_view::npos ? "" : rest.substr(sp + 1));
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
        if (kTypes.count(type) == 0) error(n, "bad TYPE " + type + " for " + name);
        if (!r.types.emplace(name, type).second) error(n, "second TYPE for " + name);
        for (const PromSample& s : r.samples) {
          if (FamilyOf(s.name, r.types) == name) error(n, "TYPE of " + name + " after its first sample");
        }
      }
      if (!current.empty() && current != name) done_families.insert(current);
      current = name;
      continue;
    }
    // name{labels} value [timestamp]
    PromSample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = std::string(line.substr(0, i));
    if (!MetricName(s.name)) error(n, "bad metric name " + s.name);
    std::string canon;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string_view::npos) { error(n, "label without '='"); break; }
        const std::string lname(line.substr(i, eq - i));
        if (!LabelName(lname)) error(n, "bad label name " + lname);
        if (eq + 1 >= line.size() || line[eq + 1] != '"') { error(n, "label value not quoted"); break; }
        std::string value;
        size_t j = eq + 2;
        bool closed = false;
        for (; j < line.size(); ++j) {
          if (line[j] == '\\') {
            if (j + 1 >= line.size()) break;
            const char e = line[++j];
            if (e == 'n') value += '\n';
            else if (e == '\\' || e == '"') value += e;
            else error(n, std::string("bad escape \\") + e + " in label " + lname);
          } else if (line[j] == '"') {
            closed = true;
            break;
          } else {
            value += line[j];
          }
        }
        if (!closed) { error(n, "unterminated label value"); break; }
        if (!s.labels.emplace(lname, value).second) error(n, "label " + lname + " twice");
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') { error(n, "labels not closed"); continue; }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') { error(n, "no value"); continue; }
    std::string_view rest = line.substr(i + 1);
    const size_t sp = rest.find(' ');
    if (!Value(rest.substr(0, sp), &s.value)) error(n, "bad value " + std::string(rest.substr(0, sp)));
    if (sp != std::string_view::npos) {
      double ts = 0;
      if (!Value(rest.substr(sp + 1), &ts)) error(n, "bad timestamp");
    }
    const std::string family = FamilyOf(s.name, r.types);
    if (r.types.count(family) == 0) error(n, "sample of " + s.name + " without TYPE");
    if (helped.count(family) == 0) error(n, "sample of " + s.name + " without HELP");
    if (done_families.count(family) > 0) error(n, "samples of " + family + " are not together");
    if (!current.empty() && current != family) done_families.insert(current);
    current = family;
    for (const auto& [k, v] : s.labels) canon += k + "=" + v + "\x1f";
    if (!series.insert(s.name + "\x1e" + canon).second) error(n, "duplicate series " + s.name + "{" + canon + "}");
    auto t = r.types.find(family);
    if (t != r.types.end() && t->second == "counter" && !family.ends_with("_total"))
      error(n, "counter " + family + " does not end in _total");
    if (t != r.types.end() && t->second == "histogram" && s.name == family + "_bucket" && s.labels.count("le") == 0)
      error(n, "bucket without le");
    r.samples.push_back(std::move(s));
  }
  // Histograms: cumulative buckets, +Inf equal to _count, a _sum.
  for (const auto& [family, type] : r.types) {
    if (type != "histogram") continue;
    double last = -1;
    double inf = -1;
    for (const PromSample* b : r.Find(family + "_bucket")) {
      if (b->value < last) r.errors.push_back(family + ": buckets are not cumulative");
      last = b->value;
      if (b->labels.at("le") == "+Inf") inf = b->value;
    }
    auto count = r.Find(family + "_count");
    if (inf < 0) r.errors.push_back(family + ": no +Inf bucket");
    if (count.size() != 1 || count[0]->value != inf) r.errors.push_back(family + ": _count differs from the +Inf bucket");
    if (r.Find(family + "_sum").size() != 1) r.errors.push_back(family + ": no _sum");
  }
  return r;
}

}  // namespace originwatch::testing
