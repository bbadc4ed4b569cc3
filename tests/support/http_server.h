// A canned HTTP server on loopback, plain or over TLS: it reads a request's
// head, records it, writes fixed answer bytes (any bytes: a normal response,
// garbage, a megabyte of headers) and closes, or never answers at all. For
// the engine's HTTP checks; what a real front (nginx) does is tested against
// nginx itself.
//
// Threading: one accept thread, plus one thread per connection (tests open a
// handful); every wait is bounded (100 ms slices) so that the destructor,
// which stops and joins them all, returns promptly. Counters and the recorded
// requests may be read from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/pki.h"

namespace originwatch::testing {

struct CannedHttpOptions {
  std::optional<Issued> tls{};      // serve TLS with this certificate; nullopt = plain TCP
  std::vector<std::string> alpn{};  // TLS: the server's ALPN preference ("h2", "http/1.1")
  std::string answer{};             // written once the request's head arrived; "" = never answer
  std::string bind_address = "127.0.0.1";
  // Connections after this many are reset (RST) as soon as accepted; 0 = serve all.
  unsigned serve_connections = 0;
};

class CannedHttpServer {
 public:
  // nullptr (with a message on stderr) when the socket cannot be bound.
  static std::unique_ptr<CannedHttpServer> Start(CannedHttpOptions opts);
  ~CannedHttpServer();
  CannedHttpServer(const CannedHttpServer&) = delete;
  CannedHttpServer& operator=(const CannedHttpServer&) = delete;

  const std::string& address() const;
  uint16_t port() const;
  uint64_t connections() const;
  // The request heads received, in order, and the ALPN protocol selected on
  // each TLS connection ("" = none).
  std::vector<std::string> requests() const;
  std::vector<std::string> alpn_selected() const;

  struct Impl;

 private:
  explicit CannedHttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace originwatch::testing
