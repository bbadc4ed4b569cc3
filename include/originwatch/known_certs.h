// KnownCertificates: the fingerprints of the certificates the store holds, so
// that the engine copies a certificate's DER into a result only when the store
// has never seen it (a chain served again costs a lookup, not a copy).
//
// Threading: any thread. The store adds a fingerprint once the certificate's
// row has committed and removes the ones retention deleted; the engine asks.
// A wrong "yes" costs nothing but the DER of that one row (the store keeps
// the certificate's facts and leaves its DER empty, see storage.md); a wrong
// "no" costs one copy.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace originwatch {

class KnownCertificates {
 public:
  // sha256_hex: CertInfo::sha256_hex (64 lower-case hex digits).
  bool Contains(std::string_view sha256_hex) const {
    std::lock_guard<std::mutex> lock(mu_);
    return set_.find(std::string(sha256_hex)) != set_.end();
  }
  void Add(const std::vector<std::string>& sha256_hex) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& s : sha256_hex) set_.insert(s);
  }
  void Remove(const std::vector<std::string>& sha256_hex) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& s : sha256_hex) set_.erase(s);
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return set_.size();
  }

 private:
  mutable std::mutex mu_;
  std::unordered_set<std::string> set_;
};

}  // namespace originwatch
