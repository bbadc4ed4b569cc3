#include "dns/answer_cache.h"

#include <algorithm>

namespace originwatch::dns {

CacheKey MakeCacheKey(std::string_view name, Family family) {
  CacheKey key{std::string(name), family};
  for (char& c : key.name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return key;
}

std::optional<DnsAnswer> AnswerCache::Find(const CacheKey& key, int64_t now_ms) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expires_ms <= now_ms) {
    entries_.erase(it);
    return std::nullopt;
  }
  DnsAnswer answer = it->second.answer;
  answer.cached = true;
  answer.ttl_ms = it->second.expires_ms - now_ms;
  answer.dns_ms = 0;
  return answer;
}

void AnswerCache::Store(const CacheKey& key, const DnsAnswer& answer, int64_t now_ms) {
  if (answer.ttl_ms <= 0) {
    entries_.erase(key);
    return;
  }
  entries_.insert_or_assign(key, Entry{answer, now_ms + answer.ttl_ms});
  if (entries_.size() >= sweep_at_) Sweep(now_ms);
}

void AnswerCache::Sweep(int64_t now_ms) {
  std::erase_if(entries_, [now_ms](const auto& kv) { return kv.second.expires_ms <= now_ms; });
  sweep_at_ = std::max<size_t>(1024, entries_.size() * 2);
}

}  // namespace originwatch::dns
