// Resolver: asynchronous A/AAAA lookups with a TTL cache, off every caller's thread.
//
// One Resolver owns one thread. That thread owns a small io_uring ring and a
// c-ares channel; the ring watches c-ares's sockets and its retry timeouts, so
// the thread never blocks anywhere but in the ring's wait. Callers on any
// thread hand it names; it answers through callbacks.
//
// Cache: one per Resolver, shared by all callers, keyed by (lower-cased name,
// family). A positive answer is kept for its TTL (the smallest TTL of its
// records and CNAMEs) clamped to [ttl_floor_ms, ttl_ceiling_ms]; NXDOMAIN and
// "no address" are kept for negative_ttl_ms (the SOA minimum is not read);
// SERVFAIL, REFUSED, timeouts and other failures are never cached. At most one
// lookup per key is in flight: requests for a key already being looked up wait
// for that lookup (coalesced) instead of sending another. IP literals answer
// themselves at once and are neither cached nor sent.
//
// Servers: with ResolverOptions::servers, only those servers are asked, the
// hosts file is not read and no search domain is appended (as nginx's
// `resolver`). Without, the hosts file is read first, then the servers and
// search domains of resolv.conf. A server's reply ends the lookup, whatever
// its RCODE: after SERVFAIL or REFUSED the other servers are not asked (only
// silence moves on to the next server, `tries` rounds in all).
//
// Threads: Resolve, ResolveBlocking and stats may be called from any thread,
// concurrently. Callbacks run on the resolver thread, one at a time: they must
// be cheap and must not block (hand the answer to your own queue). A callback
// may call Resolve again. ResolveBlocking must never be called on the resolver
// thread (from a callback): that aborts. The destructor must not run while
// another thread is still calling Resolve.
//
// Shutdown: the destructor stops the thread promptly, whatever is in flight.
// Every request accepted and not yet answered then gets exactly one answer with
// outcome kDnsTimeout and the error "resolver stopped before an answer came";
// no callback is dropped and none runs after the destructor returns.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/probe.h"
#include "originwatch/status.h"

namespace originwatch {

struct ResolverOptions {
  // "127.0.0.1:53", "127.0.0.1" (port 53), "[::1]:5353", "::1". Empty = the
  // system's hosts file and resolv.conf.
  std::vector<std::string> servers;
  int64_t ttl_floor_ms = 30000;
  int64_t ttl_ceiling_ms = 3600000;
  int64_t negative_ttl_ms = 30000;  // 0 = negative answers are not cached
  int timeout_ms = 2000;            // first try; c-ares doubles it on each later round
  int tries = 2;                    // rounds over the server list
};

enum class Family { kAny, kIpv4, kIpv6 };

// "any", "ipv4", "ipv6".
const char* FamilyName(Family f);

struct DnsAnswer {
  // kOk, or kDnsNxdomain, kDnsNoAddress, kDnsServfail, kDnsRefused,
  // kDnsTimeout, kDnsError (see probe.h).
  Outcome outcome = Outcome::kDnsError;
  // Numeric addresses, de-duplicated: every IPv4 address first, then every
  // IPv6 address, each group in the order the server gave them (no RFC 6724
  // sorting: the prober connects to every address anyway). Non-empty iff
  // outcome is kOk.
  std::vector<std::string> addresses;
  // How long this answer may still be used from now: the clamped TTL for a
  // fresh answer, what is left of it for a cached one, 0 for answers that are
  // not cached (failures other than NXDOMAIN and no address, IP literals).
  int64_t ttl_ms = 0;
  // Who answered: "127.0.0.1:5353" / "[::1]:53" (the server whose reply ended
  // the lookup), "hosts" (the hosts file), "literal" (an IP literal). When no
  // server replied (timeout, stopped, unreachable): the servers asked, comma-
  // separated, or "system" when they come from resolv.conf.
  std::string resolver;
  // Plain words, "" when ok: "NXDOMAIN: the name does not exist", ...
  std::string error;
  // Milliseconds from Resolve() to this answer (0 or close to it when cached).
  int64_t dns_ms = 0;
  bool cached = false;  // served from the cache without asking a server
};

class Resolver {
 public:
  using Callback = std::function<void(DnsAnswer)>;

  struct Stats {
    uint64_t requests = 0;      // Resolve/ResolveBlocking calls accepted
    uint64_t lookups_sent = 0;  // lookups handed to c-ares (one per key and miss)
    uint64_t cache_hits = 0;    // requests answered from the cache
    uint64_t coalesced = 0;     // requests that joined a lookup already in flight
    uint64_t in_flight = 0;     // lookups sent and not yet answered
    uint64_t answered = 0;      // callbacks run
  };

  // Starts the thread, its ring and its c-ares channel. InvalidArgument for a
  // server that is not "address[:port]" (the message names it) or for options
  // out of range; Unavailable when io_uring or c-ares cannot be set up.
  static Result<std::unique_ptr<Resolver>> Start(const ResolverOptions& options);

  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Looks `name` up and calls `done` exactly once, on the resolver thread.
  void Resolve(const std::string& name, Family family, Callback done);

  // Resolve, then waits for the answer. For one-shot tools and tests; never
  // on the resolver thread.
  DnsAnswer ResolveBlocking(const std::string& name, Family family);

  Stats stats() const;

  class Impl;  // src/dns

 private:
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace originwatch
