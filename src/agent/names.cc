// NameWatch (names.h).
#include "agent/names.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "agent/shard.h"
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
namespace {

Family FamilyOf(const std::string& f) {
  if (f == "ipv4") return Family::kIpv4;
  if (f == "ipv6") return Family::kIpv6;
  return Family::kAny;
}

// Whether the agent has a route to `address`: a UDP connect() sends nothing
// and fails at once without a route (RFC 6724 rule 1, "avoid unusable
// destinations", as getaddrinfo does it).
bool Routable(const std::string& address) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&ss); inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(443);
    len = sizeof(sockaddr_in);
  } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss); inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(443);
    len = sizeof(sockaddr_in6);
    family = AF_INET6;
  } else {
    return false;
  }
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
  close(fd);
  return ok;
}

// The address `addresses = "first"` probes: RFC 6724 destination ordering as
// far as it applies to a prober (rule 1: usable first; rule 6: IPv6 above
// IPv4 by the default precedence table), otherwise the answer's order.
std::string FirstAddress(const std::vector<std::string>& answer) {
  std::vector<std::string> v = answer;
  auto rank = [](const std::string& a) {
    const bool v6 = a.find(':') != std::string::npos;
    return (Routable(a) ? 0 : 2) + (v6 ? 0 : 1);
  };
  std::stable_sort(v.begin(), v.end(), [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  return v.empty() ? std::string() : v.front();
}

}  // namespace

ResolverOptions ResolverOptionsOf(const AgentConfig& cfg) {
  ResolverOptions o;
  o.servers = cfg.resolvers;
  o.ttl_floor_ms = cfg.dns_min_ttl_ms;
  o.ttl_ceiling_ms = std::max(cfg.dns_max_ttl_ms, cfg.dns_min_ttl_ms);
  o.negative_ttl_ms = std::min<int64_t>(cfg.dns_min_ttl_ms, 30000);
  return o;
}

NameWatch::NameWatch(std::unique_ptr<Resolver> resolver, AddressBookOptions options,
                     const std::map<std::string, std::string>& restored, int64_t now_ms)
    : resolver_(std::move(resolver)), inbox_(std::make_shared<Inbox>()), options_(options) {
  for (const auto& [origin, text] : restored) {
    auto book = AddressBook::FromText(text, options_, now_ms);
    if (book.ok() && !book->empty()) books_.emplace(origin, std::move(book).value());
  }
}

// The resolver's destructor answers what is in flight; the inbox outlives it
// (the callbacks hold it), so nothing dangles.
NameWatch::~NameWatch() { resolver_.reset(); }

void NameWatch::set_options(AddressBookOptions options) {
  options_ = options;
  for (auto& [o, b] : books_) b.set_options(options);
}

void NameWatch::set_resolver(std::unique_ptr<Resolver> resolver) {
  ++generation_;
  resolver_ = std::move(resolver);  // the old one answers its requests (dropped: old generation)
}

size_t NameWatch::Request(const AgentConfig& cfg) {
  std::set<std::string> named;
  size_t n = 0;
  for (const OriginConfig& o : cfg.origins) {
    if (!o.connect.empty() || IsIpLiteral(o.host)) continue;
    named.insert(o.name);
    const std::string identity = o.host + "|" + o.family;
    auto it = identity_.find(o.name);
    if (it != identity_.end() && it->second != identity) books_.erase(o.name);  // a new name: a new book
    identity_[o.name] = identity;
    if (o.addresses == "first") {
      first_only_[o.name];
    } else {
      first_only_.erase(o.name);
    }
    {
      std::lock_guard<std::mutex> lk(inbox_->mu);
      ++inbox_->outstanding;
    }
    resolver_->Resolve(o.host, FamilyOf(o.family),
                       [inbox = inbox_, origin = o.name, host = o.host, gen = generation_](DnsAnswer a) {
                         {
                           std::lock_guard<std::mutex> lk(inbox->mu);
                           inbox->answers.push_back({origin, host, gen, std::move(a)});
                           if (inbox->outstanding > 0) --inbox->outstanding;
                         }
                         inbox->cv.notify_all();
                       });
    ++n;
  }
  for (auto it = books_.begin(); it != books_.end();) {
    if (named.count(it->first)) {
      ++it;
    } else {
      identity_.erase(it->first);
      first_only_.erase(it->first);
      it = books_.erase(it);
    }
  }
  return n;
}

void NameWatch::WaitAnswers(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lk(inbox_->mu);
  inbox_->cv.wait_for(lk, std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0)),
                      [&] { return inbox_->outstanding == 0; });
}

std::vector<DnsObservation> NameWatch::Drain(int64_t now_ms) {
  std::vector<Pending> answers;
  {
    std::lock_guard<std::mutex> lk(inbox_->mu);
    answers.swap(inbox_->answers);
  }
  std::vector<DnsObservation> out;
  for (Pending& p : answers) {
    if (p.generation != generation_ || !identity_.count(p.origin)) continue;  // stale
    AddressBook& book = books_.try_emplace(p.origin, options_).first->second;
    const DnsAnswer& a = p.answer;
    DnsObservation d;
    d.origin = p.origin;
    d.host = p.host;
    d.at_ms = now_ms;
    d.outcome = a.outcome;
    d.dns_ms = a.dns_ms;
    d.cached = a.cached;
    d.ttl_ms = a.ttl_ms;
    d.resolver = a.resolver;
    if (a.outcome == Outcome::kOk) {
      std::vector<std::string> probed = a.addresses;
      if (auto f = first_only_.find(p.origin); f != first_only_.end()) {
        // "first": the preferred address of this answer, with the book's
        // hysteresis like any other (a rotating first address is not churn).
        probed = {FirstAddress(a.addresses)};
      }
      AddressBook::Change ch = book.Answer(probed, now_ms);
      d.resolved = true;
      d.answer = a.addresses;
      std::sort(d.answer.begin(), d.answer.end());
      d.previous = std::move(ch.previous);
      d.addresses = std::move(ch.current);
      d.retired = std::move(ch.retired);
      d.set_changed = !ch.added.empty() || !d.retired.empty();
    } else {
      d.error = std::string(OutcomeCode(a.outcome)) + ": " + a.error;
      d.addresses = book.addresses();
      d.previous = d.addresses;
      Log(LogLevel::kWarn, p.origin,
          "DNS lookup of " + p.host + " failed (" + d.error + ")" +
              (d.addresses.empty() ? "; nothing to probe until it resolves"
                                   : "; still probing the last known addresses"));
    }
    d.book_state = book.ToJson();
    out.push_back(std::move(d));
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
    ShardPlan& plan = plans[static_cast<size_t>(EngineThreadOf(o, shard_count_, shards))];
    std::vector<std::string> addresses = o.connect;
    if (addresses.empty() && IsIpLiteral(o.host)) addresses = {o.host};
    if (!addresses.empty()) {
      view->fixed_origins.insert(o.name);
    } else if (auto b = books_.find(o.name); b != books_.end()) {
      addresses = b->second.addresses();
    }
    for (const std::string& a : addresses) view->addresses[o.name].insert(a);
    for (ScheduledProbe& sp : PlanOrigin(o, addresses)) {
      sp.spec.http = o.http;  // the HTTP check (an http:// origin: its only variant)
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
