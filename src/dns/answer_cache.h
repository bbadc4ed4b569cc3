// AnswerCache: the resolver's answers by (name, family), each kept until its
// TTL runs out. A pure value: time is a parameter, no I/O, no locks (the
// resolver thread is its one owner).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "originwatch/resolver.h"

namespace originwatch::dns {

struct CacheKey {
  std::string name;  // lower-cased: DNS names compare without case (RFC 4343)
  Family family = Family::kAny;
  auto operator<=>(const CacheKey&) const = default;
};

CacheKey MakeCacheKey(std::string_view name, Family family);

class AnswerCache {
 public:
  // The answer stored for key if it is still fresh at now_ms, marked cached,
  // with ttl_ms what is left of its TTL and dns_ms 0.
  std::optional<DnsAnswer> Find(const CacheKey& key, int64_t now_ms);

  // Keeps `answer` for answer.ttl_ms from now_ms; a ttl_ms <= 0 stores nothing
  // (and forgets an older answer for the key). Expired entries are swept when
  // the cache has doubled since the last sweep, so it stays bounded by the
  // names asked within one TTL.
  void Store(const CacheKey& key, const DnsAnswer& answer, int64_t now_ms);

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    DnsAnswer answer;
    int64_t expires_ms = 0;
  };
  void Sweep(int64_t now_ms);

  std::map<CacheKey, Entry> entries_;
  size_t sweep_at_ = 1024;
};

}  // namespace originwatch::dns
