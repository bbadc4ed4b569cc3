// Engine: drives many concurrent probes (TCP connect + TLS handshake) from one
// io_uring ring on one thread.
//
// Threading: an Engine belongs to the thread that created it. Every method is
// called on that thread; callbacks run on it too, from inside Poll(). The
// engine never blocks on DNS, disk or HTTP: it takes numeric addresses only.
//
// Lifetime: every probe ends (its callback runs exactly once) because every
// phase has a deadline. The destructor waits for in-flight probes to end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/known_certs.h"
#include "originwatch/probe.h"
#include "originwatch/status.h"

namespace originwatch {

struct EngineOptions {
  std::vector<ClientProfile> profiles;  // empty = BuiltinProfiles()
  std::string ca_file;                  // "" = the system bundle
  unsigned ring_entries = 4096;
  // Receive buffers shared by every handshake (io_uring provided buffers, 8
  // KiB each, rounded up to a power of two, at most 32768): one is held only
  // while a completion's bytes are handed to OpenSSL. More in flight than
  // this is fine; a burst larger than the pool costs retries, not data.
  unsigned recv_buffers = 512;
  // Hostile servers cost bounded memory: a handshake that reads more than this
  // ends with Outcome::kTooLarge.
  size_t max_handshake_bytes = 256 * 1024;
  bool request_ocsp = true;
  // Fingerprints the store holds: results carry the DER of the others only.
  // Null: every certificate's DER is copied.
  std::shared_ptr<const KnownCertificates> known_certs;
  // Verdicts and facts of chains seen before are reused (see
  // docs/architecture.md, "The chain cache").
  bool cache_chains = true;
  // What the CA bundle held when these options were made (CaBundleDigest):
  // the same path with other contents is another trust store, so the agent
  // rebuilds its engines (and their chain caches) when this changes.
  uint64_t ca_digest = 0;
};

// Sets OpenSSL up for many handshakes (src/tls/key_decoding.h: OpenSSL's
// built-in EC and RSA key methods, so that certificates decode without the
// provider decoders). Process-wide; call it first thing in main(), before any
// certificate or key is parsed, so that every key of the process is of one
// kind. Engine::Create calls it too. Returns whether the built-in methods are
// in use (ORIGINWATCH_PROVIDER_KEYS=1 turns them off).
bool PrepareOpenSsl();

// A digest of the CA bundle's contents (ca_file "" = the system bundle); 0 if
// it cannot be read. For change detection, not for security.
uint64_t CaBundleDigest(const std::string& ca_file);

struct EngineStats {
  uint64_t started = 0;
  uint64_t completed = 0;
  uint64_t ok = 0;
  size_t in_flight = 0;
  size_t peak_in_flight = 0;
  // Receives that found every shared receive buffer taken and were issued
  // again (a burst of answers larger than the pool; costs a retry, no data).
  uint64_t recv_buffer_waits = 0;
};

class Engine {
 public:
  using Callback = std::function<void(ProbeResult&&)>;

  // Builds the client contexts (one per profile) and the ring. Errors: a
  // profile OpenSSL rejects, an unreadable CA file, io_uring unavailable.
  static Result<std::unique_ptr<Engine>> Create(const EngineOptions& options);
  // What Create would say of the profiles and the CA file, without a ring:
  // any thread may call it (the agent checks a reload before it applies it).
  static Status CheckOptions(const EngineOptions& options);
  ~Engine();

  // Starts a probe; cb runs later, from Poll(), exactly once. A spec with an
  // unknown profile or an address that is not numeric completes with
  // Outcome::kInternal and an explanation in error_text.
  void Submit(ProbeSpec spec, Callback cb);

  // Submits queued work, waits up to timeout_ms for completions (0: no wait),
  // runs their handlers and callbacks. Returns the number of probes completed.
  int Poll(int timeout_ms);
  // Polls until no probe is in flight.
  void RunUntilIdle();

  size_t in_flight() const;
  const EngineStats& stats() const;
  // How the ring was set up: "single_issuer+defer_taskrun" on current kernels.
  const std::string& ring_mode() const;
  // Where the CA bundle came from, for reports.
  const std::string& ca_description() const;

  // Convenience: runs specs concurrently and returns results in spec order.
  std::vector<ProbeResult> RunAll(const std::vector<ProbeSpec>& specs);

  class Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace originwatch
