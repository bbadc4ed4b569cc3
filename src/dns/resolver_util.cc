#include "dns/resolver_util.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <vector>

namespace originwatch::dns {
namespace {

Status BadServer(std::string_view text) {
  return Status::InvalidArgument("DNS server \"" + std::string(text) +
                                 "\" is not an address[:port] such as \"127.0.0.1:53\" or "
                                 "\"[::1]:5353\"");
}

bool ParsePort(std::string_view s, uint16_t* port) {
  if (s.empty() || s.size() > 5) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value < 1 || value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace

Status CheckOptions(const ResolverOptions& options) {
  if (options.ttl_floor_ms < 0 || options.ttl_ceiling_ms < options.ttl_floor_ms ||
      options.negative_ttl_ms < 0) {
    return Status::InvalidArgument(
        "resolver TTLs: need 0 <= ttl_floor_ms <= ttl_ceiling_ms and negative_ttl_ms >= 0");
  }
  if (options.timeout_ms <= 0 || options.tries <= 0) {
    return Status::InvalidArgument("resolver: timeout_ms and tries must be positive");
  }
  return Status::Ok();
}

DnsAnswer MakeAnswer(Outcome outcome, std::string error, std::string resolver) {
  DnsAnswer a;
  a.outcome = outcome;
  a.error = std::move(error);
  a.resolver = std::move(resolver);
  return a;
}

DnsAnswer Stopped(const std::string& resolver) {
  Failure f = StoppedFailure();
  return MakeAnswer(f.outcome, std::move(f.error), resolver);
}

Result<ServerAddress> ParseServer(std::string_view text) {
  ServerAddress server;
  std::string host;
  std::string_view port;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return BadServer(text);
    host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return BadServer(text);
      port = rest.substr(1);
      has_port = true;
    }
    server.family = AF_INET6;
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const size_t colon = text.find(':');
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    has_port = true;
    server.family = AF_INET;
  } else {
    host = std::string(text);
    server.family = host.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  }
  if (has_port && !ParsePort(port, &server.port)) return BadServer(text);
  if (inet_pton(server.family, host.c_str(), server.addr) != 1) return BadServer(text);
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(server.family, server.addr, buf, sizeof(buf));
  server.spelling = server.family == AF_INET6 ? "[" + std::string(buf) + "]" : std::string(buf);
  server.spelling += ":" + std::to_string(server.port);
  return server;
}

std::string SpellHost(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof(buf));
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

std::string SpellAddress(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "";
}

Literal ParseLiteral(const std::string& name) {
  unsigned char addr[16];
  char buf[INET6_ADDRSTRLEN] = {};
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, name.c_str(), addr) == 1) {
      inet_ntop(family, addr, buf, sizeof(buf));
      return {family, buf};
    }
  }
  return {};
}

std::string NoAddressText(Family family) {
  switch (family) {
    case Family::kIpv4:
      return "no A record: the name exists but has no IPv4 address";
    case Family::kIpv6:
      return "no AAAA record: the name exists but has no IPv6 address";
    case Family::kAny:
      break;
  }
  return "no A or AAAA record: the name exists but has no address";
}

Failure StoppedFailure() {
  return {Outcome::kDnsTimeout, "resolver stopped before an answer came"};
}

Failure DescribeAresStatus(int ares_status, Family family, const ResolverOptions& options) {
  switch (ares_status) {
    case ARES_ENOTFOUND:
      return {Outcome::kDnsNxdomain, "NXDOMAIN: the name does not exist"};
    case ARES_ENODATA:
      return {Outcome::kDnsNoAddress, NoAddressText(family)};
    case ARES_ESERVFAIL:
      return {Outcome::kDnsServfail,
              "SERVFAIL: the DNS server failed to answer for this name (its upstream or the "
              "name's own servers are broken or unreachable)"};
    case ARES_EREFUSED:
      return {Outcome::kDnsRefused,
              "REFUSED: the DNS server refused the query (it does not serve this name, or not "
              "for us)"};
    case ARES_ETIMEOUT:
      return {Outcome::kDnsTimeout, "timeout: no DNS server answered (" +
                                        std::to_string(options.tries) + " tries, the first of " +
                                        std::to_string(options.timeout_ms) + " ms)"};
    case ARES_ECONNREFUSED:
      return {Outcome::kDnsError,
              "connection refused: nothing listens on the DNS server's port"};
    case ARES_EBADNAME:
      return {Outcome::kDnsError, "not a valid DNS name"};
    case ARES_ENOTIMP:
      return {Outcome::kDnsError, "NOTIMP: the DNS server does not implement this query"};
    case ARES_EFORMERR:
    case ARES_EBADRESP:
      return {Outcome::kDnsError, std::string("malformed DNS exchange: ") +
                                      ares_strerror(ares_status)};
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return StoppedFailure();
    default:
      break;
  }
  return {Outcome::kDnsError, std::string("DNS error: ") + ares_strerror(ares_status)};
}

DnsAnswer AnswerFromAddrinfo(int ares_status, const ares_addrinfo* result, Family family,
                             const ResolverOptions& options) {
  DnsAnswer answer;
  if (ares_status != ARES_SUCCESS) {
    Failure f = DescribeAresStatus(ares_status, family, options);
    answer.outcome = f.outcome;
    answer.error = std::move(f.error);
    const bool negative =
        answer.outcome == Outcome::kDnsNxdomain || answer.outcome == Outcome::kDnsNoAddress;
    answer.ttl_ms = negative ? options.negative_ttl_ms : 0;
    return answer;
  }
  std::vector<std::string> v6;
  int64_t ttl_s = INT64_MAX;
  for (const ares_addrinfo_node* n = result != nullptr ? result->nodes : nullptr; n != nullptr;
       n = n->ai_next) {
    std::string address = SpellHost(n->ai_addr);
    auto& list = n->ai_family == AF_INET ? answer.addresses : v6;
    ttl_s = std::min<int64_t>(ttl_s, n->ai_ttl);
    if (address.empty() || std::find(list.begin(), list.end(), address) != list.end()) continue;
    list.push_back(std::move(address));
  }
  for (const ares_addrinfo_cname* c = result != nullptr ? result->cnames : nullptr; c != nullptr;
       c = c->next) {
    ttl_s = std::min<int64_t>(ttl_s, c->ttl);
  }
  answer.addresses.insert(answer.addresses.end(), v6.begin(), v6.end());
  if (answer.addresses.empty()) {  // not seen from c-ares 1.18 (it says ARES_ENODATA), but cheap
    answer.outcome = Outcome::kDnsNoAddress;
    answer.error = NoAddressText(family);
    answer.ttl_ms = options.negative_ttl_ms;
  } else {
    answer.outcome = Outcome::kOk;
    answer.ttl_ms = ClampTtlMs(ttl_s, options);
  }
  return answer;
}

int64_t ClampTtlMs(int64_t ttl_s, const ResolverOptions& options) {
  const int64_t ms = std::max<int64_t>(ttl_s, 0) * 1000;
  return std::clamp(ms, options.ttl_floor_ms, options.ttl_ceiling_ms);
}

}  // namespace originwatch::dns

namespace originwatch {

const char* FamilyName(Family f) {
  switch (f) {
    case Family::kIpv4:
      return "ipv4";
    case Family::kIpv6:
      return "ipv6";
    case Family::kAny:
      break;
  }
  return "any";
}

}  // namespace originwatch
