// Plain blocking clients for tests of the test servers themselves (and for any
// test that wants a reference client): one TCP connection, one OpenSSL
// handshake with timeouts (SO_RCVTIMEO/SO_SNDTIMEO), facts copied out.
// Loopback only. Not for the engine: it blocks the calling thread.
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace originwatch::testing {

struct ClientOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  std::optional<std::string> sni{};                                     // nullopt = send no SNI
  std::string min_version{}, max_version{}, ciphers{}, ciphersuites{};  // "" = library default
  std::vector<std::string> alpn{};
  bool request_ocsp = false;
  X509* trust = nullptr;   // borrowed; the only trusted root (nullptr = trust nothing)
  bool check_host = true;  // verify_result also covers *sni (X509_V_ERR_HOSTNAME_MISMATCH)
  int timeout_ms = 2000;   // connect, and each read/write
  long max_cert_list = 0;  // 0 = OpenSSL default (100 KiB)
};

struct ClientOutcome {
  int connect_errno = 0;  // 0 = TCP connected
  bool handshake_ok = false;
  int alert_received = -1;  // alert number from the server, -1 = none
  int ssl_error = 0;        // SSL_get_error of the failed SSL_connect
  int sys_errno = 0;        // errno after a failed SSL_connect (EAGAIN = timed out)
  std::string error_text;   // OpenSSL error queue
  long verify_result = -1;  // SSL_get_verify_result, when a chain was received
  int chain_len = 0;        // certificates the server sent
  std::string leaf_cn;
  std::string version;  // "TLSv1.3"
  std::string cipher;
  std::string alpn;
  std::string ocsp_der;    // stapled OCSP response, "" = none
  int64_t elapsed_ms = 0;  // connect + handshake
};

ClientOutcome TlsConnect(const ClientOptions& options);
// The same handshake over an already connected socket (borrowed; address/port
// ignored). elapsed_ms then counts the handshake only.
ClientOutcome TlsOverFd(int fd, const ClientOptions& options);

struct RawOutcome {
  int connect_errno = 0;
  int read_errno = 0;  // errno of the last failed recv (EAGAIN = timed out), 0 = EOF or full
  bool eof = false;
  std::string bytes;  // what was read (at most max_read bytes)
};

// Connects, sends `payload`, reads until EOF, error, timeout or max_read bytes.
RawOutcome RawExchange(const std::string& address, uint16_t port, const std::string& payload,
                       size_t max_read, int timeout_ms);

// A connected blocking TCP socket with SO_RCVTIMEO/SO_SNDTIMEO = timeout_ms,
// or -1 with *err set. The caller owns (and closes) the fd.
int ConnectTcp(const std::string& address, uint16_t port, int timeout_ms, int* err);

// Bytes of a TLS 1.2 ClientHello (as a client would send), for raw exchanges.
std::string SampleClientHello(const std::string& sni);

}  // namespace originwatch::testing
