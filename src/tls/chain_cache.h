// What one engine remembers of the chains it has seen, so that a chain served
// again costs neither a second verification nor a second fact extraction.
//
// Two maps, both owned by one engine's ClientContexts and so by one thread (no
// locks):
//   - facts: a certificate's SHA-256 (of its DER) -> its extracted CertInfo and
//     DER. A fingerprint names exactly one DER, so an entry never goes stale.
//   - verdicts: the served chain's fingerprints, in order -> what verifying it
//     against this trust store said (the first error and its depth, as the
//     verify callback saw them, and the final code). An entry expires no later
//     than any certificate of the built chain (trust anchor included) becomes
//     valid or invalid, and after kVerdictMaxAgeS at the latest. The trust
//     store is fixed for the life of the ClientContexts: a CA bundle changed
//     on reload builds new contexts and so an empty cache.
// What is not cached: the name check (CoversName runs on every probe, with
// the probe's expected names), the handshake and its signatures.
//
// Both maps are bounded (kMaxEntries each by default): when one is full, entries not used
// since the previous sweep go first (second chance), so a hostile server that
// sends a new certificate on every handshake costs bounded memory and only
// the work there was before the cache.
#pragma once

#include <openssl/x509.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "originwatch/probe.h"

namespace originwatch::tls {

using Digest = std::array<unsigned char, 32>;

// SHA-256 of the certificate's DER; false if OpenSSL could not encode it.
bool CertDigest(X509* cert, Digest* out);
std::string DigestHex(const Digest& d);

struct Verdict {
  int rc = 1;            // what X509_verify_cert returned
  int first_code = 0;    // first error the verify callback saw (0: none)
  int first_depth = -1;
  int final_code = 0;    // X509_STORE_CTX_get_error after verification
  int64_t expires_at = 0;  // unix seconds: replay only before this
};

class ChainCache {
 public:
  static constexpr size_t kMaxEntries = 16384;
  static constexpr int64_t kVerdictMaxAgeS = 3600;

  explicit ChainCache(size_t max_entries = kMaxEntries) : max_entries_(max_entries) {}

  struct Facts {
    CertInfo info;  // without der
    std::string der;
  };

  // The facts of cert (whose digest is d), extracted once.
  const Facts& FactsOf(X509* cert, const Digest& d);

  // nullptr unless a verdict for this chain is cached and now_s < expires_at.
  const Verdict* FindVerdict(const std::string& chain_key, int64_t now_s);
  void PutVerdict(std::string chain_key, const Verdict& v);

  struct Stats {
    uint64_t facts_hits = 0, facts_misses = 0;
    uint64_t verdict_hits = 0, verdict_misses = 0;
  };
  const Stats& stats() const { return stats_; }
  size_t facts_size() const { return facts_.size(); }
  size_t verdicts_size() const { return verdicts_.size(); }

 private:
  struct DigestHash {
    size_t operator()(const Digest& d) const {
      size_t h;
      static_assert(sizeof(h) <= sizeof(Digest));
      std::memcpy(&h, d.data(), sizeof(h));
      return h;
    }
  };
  struct FactsEntry {
    std::unique_ptr<Facts> facts;  // stable address while the entry lives
    bool used = true;
  };
  struct VerdictEntry {
    Verdict verdict;
    bool used = true;
  };

  template <typename Map>
  static void Sweep(Map* map);

  size_t max_entries_;
  std::unordered_map<Digest, FactsEntry, DigestHash> facts_;
  std::unordered_map<std::string, VerdictEntry> verdicts_;
  Stats stats_;
};

// The earliest moment a verdict on this chain could change: the smallest
// not_after of any certificate in it, or a not_before still in the future.
int64_t NextValidityChange(STACK_OF(X509)* chain, int64_t now_s);

}  // namespace originwatch::tls
