#include "tls/chain_cache.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <limits>

#include "tls/facts.h"

namespace originwatch::tls {

bool CertDigest(X509* cert, Digest* out) {
  // i2d of a decoded certificate re-emits its cached encoding: the bytes as
  // served. A stack buffer covers every ordinary certificate; a larger one is
  // encoded into a heap buffer.
  unsigned char stack_buf[4096];
  int len = i2d_X509(cert, nullptr);
  if (len <= 0) return false;
  std::unique_ptr<unsigned char[]> heap;
  unsigned char* buf = stack_buf;
  if (static_cast<size_t>(len) > sizeof(stack_buf)) {
    heap = std::make_unique<unsigned char[]>(static_cast<size_t>(len));
    buf = heap.get();
  }
  unsigned char* p = buf;
  if (i2d_X509(cert, &p) != len) return false;
  SHA256(buf, static_cast<size_t>(len), out->data());
  return true;
}

std::string DigestHex(const Digest& d) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < d.size(); ++i) {
    out[2 * i] = kDigits[d[i] >> 4];
    out[2 * i + 1] = kDigits[d[i] & 15];
  }
  return out;
}

template <typename Map>
void ChainCache::Sweep(Map* map) {
  // Second chance: drop what was not used since the last sweep and clear the
  // mark of the rest. If everything was used, drop half: the bound holds.
  size_t before = map->size();
  for (auto it = map->begin(); it != map->end();) {
    if (!it->second.used) {
      it = map->erase(it);
    } else {
      it->second.used = false;
      ++it;
    }
  }
  if (map->size() == before) {
    size_t drop = before / 2;
    for (auto it = map->begin(); it != map->end() && drop > 0; --drop) it = map->erase(it);
  }
}

const ChainCache::Facts& ChainCache::FactsOf(X509* cert, const Digest& d) {
  auto it = facts_.find(d);
  if (it != facts_.end()) {
    ++stats_.facts_hits;
    it->second.used = true;
    return *it->second.facts;
  }
  ++stats_.facts_misses;
  if (facts_.size() >= max_entries_) Sweep(&facts_);
  auto f = std::make_unique<Facts>();
  f->info = ExtractCert(cert);
  f->der = std::move(f->info.der);
  f->info.der.clear();
  f->info.der.shrink_to_fit();
  f->info.sha256_hex = DigestHex(d);
  return *facts_.emplace(d, FactsEntry{std::move(f), true}).first->second.facts;
}

const Verdict* ChainCache::FindVerdict(const std::string& chain_key, int64_t now_s) {
  auto it = verdicts_.find(chain_key);
  if (it == verdicts_.end() || now_s >= it->second.verdict.expires_at) {
    if (it != verdicts_.end()) verdicts_.erase(it);
    ++stats_.verdict_misses;
    return nullptr;
  }
  ++stats_.verdict_hits;
  it->second.used = true;
  return &it->second.verdict;
}

void ChainCache::PutVerdict(std::string chain_key, const Verdict& v) {
  if (verdicts_.size() >= max_entries_) Sweep(&verdicts_);
  verdicts_[std::move(chain_key)] = VerdictEntry{v, true};
}

int64_t NextValidityChange(STACK_OF(X509)* chain, int64_t now_s) {
  int64_t next = std::numeric_limits<int64_t>::max();
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    X509* x = sk_X509_value(chain, i);
    int64_t not_before = ToUnix(X509_get0_notBefore(x));
    int64_t not_after = ToUnix(X509_get0_notAfter(x));
    // Valid from not_before through not_after inclusive: the verdict can
    // change when the later one is passed or the future one is reached.
    if (not_before > now_s) next = std::min(next, not_before);
    if (not_after >= now_s) next = std::min(next, not_after + 1);
  }
  return next;
}

}  // namespace originwatch::tls
