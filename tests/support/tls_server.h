// Scripted TLS test servers on loopback, for tests and the originwatch-fleet.
//
// One background thread per server runs an epoll loop over non-blocking
// sockets (epoll is fine here: this is test infrastructure, not the engine),
// with one OpenSSL SSL per connection (SSL_set_fd). A server serves thousands of
// concurrent connections (listen backlog 4096). Every behaviour below is what a
// real, misconfigured or hostile origin does; tests assert how clients see it.
//
// Threading: Start and the destructor run on the owner's thread; the counters
// and last_sni() may be read from any thread while the server runs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/pki.h"

namespace originwatch::testing {

enum class Behavior {
  kTls,        // a TLS server (see ServerOptions); after the handshake it reads until the
               // client closes
  kPlainHttp,  // reads, answers "HTTP/1.1 400 Bad Request\r\n...\r\n\r\n<html>...", then
               // closes its side (FIN) and closes the socket once the client has closed
  kBlackhole,  // accepts, never reads or writes, keeps the socket open until the client closes
  kSlow,       // TLS, but waits delay_ms after accept before reading anything
  kReset,      // accepts, reads the ClientHello, closes with SO_LINGER{1,0}: a TCP RST
  kGarbage,    // reads, writes ~200 random bytes that are not a TLS record (first byte is
               // printable ASCII, never 0x14..0x18), keeps the socket open
  kEndless,    // reads, then writes TLS handshake records (16 03 03 40 00, then 16 KiB of
               // zero bytes = empty HelloRequest messages, which an OpenSSL client skips)
               // as fast as the client takes them, until the client closes
  kRefused,    // nothing listens: the port is bound but never listen()ed, connect gets RST
};

// What a kTls server does when the ClientHello has no SNI (no_sni) or an SNI
// that no served cert names (unknown_sni).
enum class NoSniAction {
  kServeDefault,  // complete the handshake with certs[0]
  kAlert,         // fatal alert (no_sni_alert / unknown_sni_alert) instead of ServerHello
  kClose,         // close the connection (FIN) right after the ClientHello, no alert
};

// A certificate the server can present. Copyable: copies share the OpenSSL
// objects (reference counted).
struct ServedCert {
  X509Ptr cert{};
  EvpPkeyPtr key{};
  std::vector<X509Ptr> chain{};      // sent after the leaf, in this order (may repeat)
  std::vector<std::string> names{};  // SNI names it answers ("*.x.test" matches one label);
                                     // empty = only as the default
  // More certificates for the same names, of other key types (an RSA one next
  // to an ECDSA one, as dual-certificate CDNs do): OpenSSL picks the one the
  // negotiated cipher / signature algorithms allow.
  std::vector<Issued> also{};

  ServedCert() = default;
  ServedCert(ServedCert&&) = default;
  ServedCert& operator=(ServedCert&&) = default;
  ServedCert(const ServedCert& other);
  ServedCert& operator=(const ServedCert& other);

  static ServedCert From(const Issued& issued, std::vector<std::string> names = {});
  // Dual certificate: `primary` and `other` (another key type) for `names`.
  static ServedCert Dual(const Issued& primary, const Issued& other,
                         std::vector<std::string> names = {});
};

struct ServerOptions {
  Behavior behavior = Behavior::kTls;
  std::vector<ServedCert> certs{};  // certs[0] is the default (no SNI or unknown SNI);
                                    // required for kTls and kSlow
  NoSniAction no_sni = NoSniAction::kServeDefault;
  int no_sni_alert = 112;  // alert sent when no SNI and no_sni == kAlert (40, 80, 112, ...)
  NoSniAction unknown_sni = NoSniAction::kServeDefault;
  int unknown_sni_alert = 112;
  std::string min_version{}, max_version{};  // "TLSv1.2", "TLSv1.3"; "" = library default
  std::string ciphers{}, ciphersuites{};     // server-side lists; "" = library default
  std::vector<std::string> alpn{};  // server's ALPN preference ("h2", "http/1.1"); empty = none
  bool staple_ocsp = false;         // staple a (fake-signed, well-formed) OCSP response when asked
  int delay_ms = 0;                 // kSlow
  std::string bind_address = "127.0.0.1";  // loopback only: 127.0.0.0/8 or ::1
  uint16_t port = 0;                       // 0 = ephemeral
};

class TlsTestServer {
 public:
  // Binds, listens and starts the thread. nullptr (with a message on stderr)
  // when the options are invalid, the address is not loopback, or bind fails.
  static std::unique_ptr<TlsTestServer> Start(ServerOptions opts);
  ~TlsTestServer();  // stops the thread, closes every socket
  TlsTestServer(const TlsTestServer&) = delete;
  TlsTestServer& operator=(const TlsTestServer&) = delete;

  const std::string& address() const;
  uint16_t port() const;
  Behavior behavior() const;
  uint64_t connections_accepted() const;
  uint64_t handshakes_completed() const;
  uint64_t open_connections() const;  // accepted and not yet closed by the server
  // SNI seen on the last ClientHello (nullopt = none, or no ClientHello yet).
  std::optional<std::string> last_sni() const;
  uint64_t client_hellos() const;  // ClientHellos seen by kTls/kSlow servers

  struct Impl;

 private:
  explicit TlsTestServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A port on which nothing listens (bound, never listen()ed: connect gets RST).
// Holds the port while alive.
class ClosedPort {
 public:
  static std::unique_ptr<ClosedPort> Reserve(std::string address = "127.0.0.1");
  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  ~ClosedPort();
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;

 private:
  ClosedPort(int fd, std::string address, uint16_t port)
      : fd_(fd), address_(std::move(address)), port_(port) {}
  int fd_;
  std::string address_;
  uint16_t port_;
};

// True for 127.0.0.0/8 and ::1 (numeric only).
bool IsLoopbackAddress(const std::string& address);

}  // namespace originwatch::testing
