// NameWatch (names.h).
#include "agent/names.h"

#include <algorithm>
#include <set>

#include "originwatch/agent.h"
#include "originwatch/log.h"
#include "originwatch/plan.h"
#include "originwatch/scheduler.h"

namespace originwatch {

uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64-bit offset basis
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;  // FNV 64-bit prime
  }
  return h;
}

namespace agent_internal {

NameWatch::NameWatch(AddressBookOptions options, const std::map<std::string, std::string>& restored,
                     int64_t now_ms)
    : options_(options) {
  for (const auto& [origin, text] : restored) {
    auto book = AddressBook::FromText(text, options_, now_ms);
    if (book.ok() && !book->empty()) books_.emplace(origin, std::move(book).value());
  }
}

void NameWatch::set_options(AddressBookOptions options) {
  options_ = options;
  for (auto& [o, b] : books_) b.set_options(options);
}

std::vector<DnsObservation> NameWatch::ResolveAll(const AgentConfig& cfg, int64_t now_ms) {
  std::vector<DnsObservation> out;
  std::set<std::string> named;
  for (const OriginConfig& o : cfg.origins) {
    if (!o.connect.empty() || IsIpLiteral(o.host)) continue;
    named.insert(o.name);
    auto h = hosts_.find(o.name);
    if (h != hosts_.end() && h->second != o.host) books_.erase(o.name);  // a new name: a new book
    hosts_[o.name] = o.host;
    AddressBook& book = books_.try_emplace(o.name, options_).first->second;
    DnsObservation d;
    d.origin = o.name;
    d.host = o.host;
    d.at_ms = now_ms;
    auto answer = ResolveAddresses(o.host);
    if (answer.ok()) {
      AddressBook::Change ch = book.Answer(answer.value(), now_ms);
      d.answer = answer.value();
      std::sort(d.answer.begin(), d.answer.end());
      d.resolved = true;
      d.previous = std::move(ch.previous);
      d.addresses = std::move(ch.current);
      d.retired = std::move(ch.retired);
      d.set_changed = !ch.added.empty() || !d.retired.empty();
    } else {
      d.error = answer.status().message();
      d.addresses = book.addresses();
      d.previous = d.addresses;
      Log(LogLevel::kWarn, o.name,
          d.error + (d.addresses.empty() ? "; nothing to probe until it resolves"
                                         : "; still probing the last known addresses"));
    }
    d.book_state = book.ToJson();
    out.push_back(std::move(d));
  }
  for (auto it = books_.begin(); it != books_.end();) {
    if (named.count(it->first)) {
      ++it;
    } else {
      hosts_.erase(it->first);
      it = books_.erase(it);
    }
  }
  return out;
}

std::vector<ShardPlan> NameWatch::BuildPlans(const AgentConfig& cfg, int shards, PlanView* view) const {
  std::vector<ShardPlan> plans(static_cast<size_t>(shards));
  for (ShardPlan& p : plans) {
    p.engine_options.ca_file = cfg.ca_file;
    p.engine_options.profiles = cfg.profiles;
    p.scheduler_options.max_in_flight = std::max(1, cfg.max_in_flight / shards);
    p.scheduler_options.max_per_address = cfg.max_per_address;
  }
  for (const OriginConfig& o : cfg.origins) {
    ShardPlan& plan = plans[Fnv1a64(o.name) % static_cast<uint64_t>(shards)];
    std::vector<std::string> addresses = o.connect;
    if (addresses.empty() && IsIpLiteral(o.host)) addresses = {o.host};
    if (!addresses.empty()) {
      view->fixed_origins.insert(o.name);
    } else if (auto b = books_.find(o.name); b != books_.end()) {
      addresses = b->second.addresses();
    }
    for (const std::string& a : addresses) view->addresses[o.name].insert(a);
    for (ScheduledProbe& sp : PlanOrigin(o, addresses)) {
      view->variants.insert(VariantIdentity(o.name, sp.spec));
      plan.probes.push_back(std::move(sp));
    }
  }
  return plans;
}

std::string NameWatch::Fingerprint() const {
  std::string out;
  for (const auto& [origin, book] : books_) {
    out += origin;
    out += '=';
    for (const std::string& a : book.addresses()) out += a + ",";
    out += ';';
  }
  return out;
}

}  // namespace agent_internal
}  // namespace originwatch
