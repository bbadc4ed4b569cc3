// The resolver's small pure pieces: server spellings, the c-ares status of a
// finished lookup in our outcome codes and plain words, TTL clamping.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "originwatch/probe.h"
#include "originwatch/resolver.h"
#include "originwatch/status.h"

struct ares_addrinfo;  // <ares.h>, kept out of this header

namespace originwatch::dns {

struct ServerAddress {
  int family = AF_INET;  // AF_INET or AF_INET6
  unsigned char addr[16] = {};  // network order, 4 or 16 bytes used
  uint16_t port = 53;
  std::string spelling;  // canonical: "127.0.0.1:53", "[::1]:5353"
};

// "127.0.0.1:53", "127.0.0.1", "[::1]:5353", "[::1]", "::1". InvalidArgument
// naming `text` for anything else (a name, a port out of 1..65535, "1.2.3.4:").
Result<ServerAddress> ParseServer(std::string_view text);

// "a.b.c.d:port" or "[v6]:port" for a socket address; "" for other families.
std::string SpellAddress(const sockaddr* sa);
// Its numeric host alone: "a.b.c.d" or "v6"; "" for other families.
std::string SpellHost(const sockaddr* sa);

// The numeric spelling of an IP literal ("::0001" -> "::1"), with its family
// (AF_INET/AF_INET6); family 0 when `name` is no literal.
struct Literal {
  int family = 0;
  std::string text;
};
Literal ParseLiteral(const std::string& name);

// InvalidArgument for TTLs, timeout or tries out of range (servers aside).
Status CheckOptions(const ResolverOptions& options);

DnsAnswer MakeAnswer(Outcome outcome, std::string error, std::string resolver);
// The answer of a request the stopping resolver could not finish.
DnsAnswer Stopped(const std::string& resolver);

struct Failure {
  Outcome outcome = Outcome::kDnsError;
  std::string error;
};
// A c-ares status other than ARES_SUCCESS, as an outcome and plain words.
// ARES_ECANCELLED and ARES_EDESTRUCTION come only from stopping: StoppedFailure.
Failure DescribeAresStatus(int ares_status, Family family, const ResolverOptions& options);
Failure StoppedFailure();
// The words of "no address of this family" (also for literals of the other family).
std::string NoAddressText(Family family);

// The answer of a finished ares_getaddrinfo (status and result, which stays
// the caller's to free): outcome, addresses (IPv4 then IPv6, de-duplicated),
// error and ttl_ms (0 when it must not be cached). resolver and dns_ms are
// left for the caller.
DnsAnswer AnswerFromAddrinfo(int ares_status, const ares_addrinfo* result, Family family,
                             const ResolverOptions& options);

// ttl_s (the smallest TTL of the answer, seconds) in ms, clamped to the options.
int64_t ClampTtlMs(int64_t ttl_s, const ResolverOptions& options);

}  // namespace originwatch::dns
