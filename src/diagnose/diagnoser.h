// Private to src/diagnose: the Diagnoser, one pass over the results of one
// origin. diagnose.cc decides which finding explains which variant (the rule
// order is described there); summaries_handshake.cc and summaries_cert.cc turn
// the variants a finding explains into its summary and fix.
#pragma once

#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diagnose/diagnose_text.h"
#include "originwatch/diagnose.h"

namespace originwatch::diagnose_internal {

inline constexpr int64_t kDaySeconds = 86400;
inline constexpr size_t kNone = std::numeric_limits<size_t>::max();

// Borrows results and options: both must outlive it.
class Diagnoser {
 public:
  Diagnoser(const std::vector<ProbeResult>& results, const DiagnoseOptions& options)
      : r_(results), opt_(options), explained_(results.size(), false) {
    for (const auto& r : r_) {
      AddUnique(addresses_, r.spec.address);
      AddUnique(ports_, std::to_string(r.spec.port));
    }
    for (size_t i = 0; i < r_.size(); ++i) AddUnique(endpoints_, Endpoint(i));
  }

  Diagnosis Run();

 private:
  struct Item {
    size_t idx;          // the variant explained
    size_t ref = kNone;  // the working variant it was compared with, or a chain index
  };

  std::string Endpoint(size_t i) const {
    const ProbeSpec& s = r_[i].spec;
    if (ports_.size() <= 1) return s.address;
    const bool v6 = Contains(s.address, ":");
    return (v6 ? "[" + s.address + "]" : s.address) + ":" + std::to_string(s.port);
  }
  std::string AddrPort(size_t i) const {
    const ProbeSpec& s = r_[i].spec;
    const bool v6 = Contains(s.address, ":");
    return (v6 ? "[" + s.address + "]" : s.address) + ":" + std::to_string(s.port);
  }
  bool SameEndpoint(size_t a, size_t b) const {
    return r_[a].spec.address == r_[b].spec.address && r_[a].spec.port == r_[b].spec.port;
  }
  std::string Label(size_t i) const {
    std::string label = r_[i].VariantLabel();
    return endpoints_.size() > 1 ? Endpoint(i) + " " + label : label;
  }
  const ClientProfile* Profile(std::string_view name) const {
    for (const auto& p : opt_.profiles) {
      if (p.name == name) return &p;
    }
    return FindBuiltinProfile(name);
  }
  // "Profile legacy-rsa (an older proxy ...)": starts a sentence.
  std::string ProfileText(std::string_view name) const {
    const ClientProfile* p = Profile(name);
    std::string out = "Profile " + std::string(name);
    if (p != nullptr && !p->description.empty()) out += " (" + p->description + ")";
    return out;
  }

  // Working variants that differ from f only as `key` allows. Same endpoint
  // first; other endpoints only when f's endpoint has no variant matching key.
  template <class Key>
  std::vector<size_t> WorkingCounterparts(size_t f, Key key) const {
    bool local_variant = false;
    std::vector<size_t> local, remote;
    for (size_t j = 0; j < r_.size(); ++j) {
      if (j == f || !key(r_[j])) continue;
      if (SameEndpoint(f, j)) {
        local_variant = true;
        if (r_[j].ok()) local.push_back(j);
      } else if (r_[j].ok()) {
        remote.push_back(j);
      }
    }
    return local_variant ? local : remote;
  }

  void Add(std::string_view code, size_t idx, size_t ref = kNone) {
    items_[code].push_back({idx, ref});
  }

  // " on 1 of 2 addresses (192.0.2.7)" when the items do not span every endpoint.
  std::string WhereClause(const std::vector<Item>& items) const {
    if (endpoints_.size() <= 1) return "";
    std::vector<std::string> where;
    for (const auto& it : items) AddUnique(where, Endpoint(it.idx));
    if (where.size() == endpoints_.size())
      return " on all " + std::to_string(where.size()) + " addresses";
    return " on " + std::to_string(where.size()) + " of " + std::to_string(endpoints_.size()) +
           " addresses (" + Join(where, ", ") + ")";
  }

  void ExplainFailures();
  void CheckSuccesses();
  void CheckHttp();  // summaries_http.cc
  // "www.example.com/promo answers 200 OK (Server: nginx)" for the HTTP checks
  // of the variants `done` (distinct answers joined), "" when none made one.
  std::string HttpHealthyText(const std::vector<size_t>& done) const;
  bool ExplainByProfile(size_t f);
  std::optional<std::string> KeyTypeExplanation(size_t f, const std::vector<size_t>& working,
                                                bool* leaf_is_ec) const;

  Finding Build(std::string_view code, const std::vector<Item>& items) const;
  void BuildSniRequired(const std::vector<Item>& items, Finding& f) const;
  void BuildWrongCert(const std::vector<Item>& items, Finding& f) const;
  void BuildNoSharedCipher(const std::vector<Item>& items, Finding& f) const;
  void BuildProtocolMismatch(const std::vector<Item>& items, Finding& f) const;
  void BuildNameMismatch(const std::vector<Item>& items, Finding& f) const;
  void BuildNameOnlyInCn(const std::vector<Item>& items, Finding& f) const;
  void BuildValidity(std::string_view code, const std::vector<Item>& items, Finding& f) const;
  void BuildSelfSigned(const std::vector<Item>& items, Finding& f) const;
  void BuildChain(std::string_view code, const std::vector<Item>& items, Finding& f) const;
  void BuildNotTls(const std::vector<Item>& items, Finding& f) const;
  void BuildNetwork(std::string_view code, const std::vector<Item>& items, Finding& f) const;
  void BuildHandshakeFailed(const std::vector<Item>& items, Finding& f) const;
  void BuildSlow(const std::vector<Item>& items, Finding& f) const;
  void BuildNoRoute(const std::vector<Item>& items, Finding& f) const;
  void BuildHttp(std::string_view code, const std::vector<Item>& items, Finding& f) const;
  Finding BuildHealthy() const;

  const std::vector<ProbeResult>& r_;
  const DiagnoseOptions& opt_;
  std::vector<bool> explained_;  // by a comparative rule (no generic finding then)
  std::vector<std::string> addresses_, ports_, endpoints_;
  std::map<std::string_view, std::vector<Item>> items_;
};

}  // namespace originwatch::diagnose_internal
