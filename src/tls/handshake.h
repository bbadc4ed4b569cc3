// One TLS client handshake as a state machine over memory BIOs. It never
// touches a socket: the engine feeds it the bytes that arrived and sends the
// bytes it produced.
//
// States and transitions:
//   kNeedRead  --Feed()/FeedEof()-->  Advance()  --> kNeedRead | kDone | kFailed
//   After kDone, WriteApp/ReadApp carry application data (an HTTP check) over
//   the same BIOs.
//   Output() may hold bytes in any state; the caller sends them first
//   (the ClientHello after the first Advance(), Finished after kDone).
//   kDone and kFailed are final. Facts are copied out with Fill() before the
//   Handshake is destroyed; no pointer into OpenSSL escapes.
//
// Not thread-safe; one per connection. The SSL_CTX is borrowed and must outlive it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "originwatch/probe.h"
#include "tls/chain_cache.h"
#include "tls/ossl.h"

namespace originwatch::tls {

class Handshake {
 public:
  enum class State { kNeedRead, kDone, kFailed };

  // ctx: borrowed. spec: SNI, expected names. request_ocsp: ask for a staple.
  Handshake(SSL_CTX* ctx, const ProbeSpec& spec, bool request_ocsp);
  ~Handshake();
  Handshake(const Handshake&) = delete;
  Handshake& operator=(const Handshake&) = delete;

  // Runs SSL_do_handshake as far as the fed bytes allow.
  State Advance();
  // Bytes received from the peer; FeedEof() when the peer closed.
  void Feed(const uint8_t* data, size_t n);
  void FeedEof();
  // Takes up to cap bytes of pending output; returns how many.
  size_t TakeOutput(uint8_t* buf, size_t cap);
  size_t PendingOutput() const;
  // Queues a close_notify (after kDone) so the server sees a clean close.
  void Shutdown();
  // Offers this one ALPN protocol instead of the profile's list ("http/1.1"
  // for the second connection of an HTTP check after h2). Before Advance().
  void OfferOnlyAlpn(const std::string& protocol);

  // Application data after kDone (the HTTP exchange; the caller keeps the
  // Handshake alive for it). WriteApp encrypts into the pending output;
  // false on failure (see app_error()).
  bool WriteApp(const void* data, size_t n);
  // Decrypts what was fed: >0 bytes into buf, 0 = more bytes needed,
  // kAppEnd = the peer closed (close_notify or EOF), kAppError = a TLS error
  // (see app_error()).
  static constexpr long kAppEnd = -1;
  static constexpr long kAppError = -2;
  long ReadApp(void* buf, size_t cap);
  const std::string& app_error() const { return app_error_; }

  // Copies the facts into r: negotiated parameters and chain on kDone; outcome,
  // alert and error text on kFailed (the chain too, if it arrived).
  // now_s: for nothing but consistency of the facts; validity is diagnosed later.
  void Fill(ProbeResult* r) const;

  State state() const { return state_; }

  // For the verify and info callbacks (C linkage trampolines).
  void OnVerifyError(int code, int depth);
  void OnAlert(bool read, int level, int desc);
  // Verifies the served chain, or replays the cached verdict on it.
  int VerifyChain(X509_STORE_CTX* sctx, ChainCache* cache);

 private:
  void Classify(int ssl_error);
  void FillChain(STACK_OF(X509)* chain, ProbeResult* r) const;

  SslPtr ssl_;
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  State state_ = State::kNeedRead;
  std::string first_bytes_;  // the first bytes received (at most 64)
  bool eof_ = false;
  int verify_code_ = 0;
  int verify_depth_ = -1;
  int alert_read_ = -1;   // fatal alert received, -1 if none
  int warning_read_ = -1; // last warning-level alert received (it does not end a handshake)
  int alert_sent_ = -1;
  Outcome fail_outcome_ = Outcome::kTlsError;
  std::string error_text_;
  std::string app_error_;
  // Digests of the served chain computed while verifying, reused by Fill.
  std::vector<std::pair<const X509*, Digest>> digests_;
};

// SSL_CTX_set_cert_verify_callback target; arg is the context's ContextShared.
int CertVerifyTrampoline(X509_STORE_CTX* sctx, void* arg);

}  // namespace originwatch::tls
