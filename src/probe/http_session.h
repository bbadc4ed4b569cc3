// The HTTP exchange of one probe, between the engine's I/O and the response
// parser: it turns the request into the bytes to send (encrypted through the
// connection's TLS session, or plain) and the bytes received into the
// HttpResult, with its times and its bounds. It does no I/O itself: the
// engine sends Output() and feeds what arrives.
//
//   Start() --Output() sent--> RequestSent() --OnBytes()...--> done()
//   OnEof(), OnTimedOut(), OnFailed() end it too. done() is final.
//
// Ownership: it owns the connection's tls::Handshake (kDone) from Start on, or
// none for a plain http:// check. Not thread-safe; one per Conn.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/probe.h"
#include "probe/http_exchange.h"
#include "tls/handshake.h"

namespace originwatch::probe {

class HttpSession {
 public:
  // tls: the finished handshake of the connection, null for plain HTTP.
  // max_bytes: the most this exchange may read (head + body + slack for TLS
  // records); more ends it (kTooLarge before a complete head).
  HttpSession(const ProbeSpec& spec, std::unique_ptr<tls::Handshake> tls, uint64_t max_bytes);

  // Builds the request. False (and done) when TLS refused to encrypt it.
  bool Start();
  // Takes the bytes to send (the request; anything TLS must answer).
  void TakeOutput(std::vector<uint8_t>* out);
  // The last byte of the request was sent (TTFB counts from here).
  void RequestSent(int64_t now_mono);
  // Bytes from the socket. Returns done().
  bool OnBytes(const uint8_t* data, size_t n, int64_t now_mono);
  bool OnEof(int64_t now_mono);
  void OnTimedOut(int64_t now_mono, int timeout_ms);
  void OnFailed(HttpOutcome outcome, std::string why, int64_t now_mono);

  bool done() const { return done_; }
  // The result so far (final once done()).
  void Fill(HttpResult* r) const;

 private:
  void Finish(int64_t now_mono);
  void Deliver(const uint8_t* data, size_t n, int64_t now_mono);

  std::string request_;
  std::unique_ptr<tls::Handshake> tls_;
  uint64_t max_bytes_;
  HttpResponseParser parser_;
  std::vector<uint8_t> output_;
  uint64_t bytes_read_ = 0;
  int64_t sent_mono_ = -1;
  int64_t first_byte_mono_ = -1;
  int64_t end_mono_ = -1;
  bool done_ = false;
  HttpOutcome override_ = HttpOutcome::kNotRun;  // a failure outside the parser
  std::string override_text_;
};

}  // namespace originwatch::probe
