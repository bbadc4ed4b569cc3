// Connection phases of a test server (one per accepted socket):
//
//   accept ─┬─ kTls ──────> kHandshake ─ok─> kEstablished ─client closes─> closed
//           │                   └─fail/alert/no-SNI close─> kDraining
//           ├─ kSlow ─────> kDelay ─delay_ms─> kHandshake ...
//           ├─ kPlainHttp ─> kPlainRead ─data─> answer 400, FIN ─> kDraining
//           ├─ kBlackhole ─> kBlackhole (only waits for the client to close)
//           ├─ kReset ────> kResetRead ─data─> SO_LINGER{1,0} close (RST)
//           ├─ kGarbage ──> kGarbage ─data─> 200 bytes, then reads until the client closes
//           └─ kEndless ──> kEndless ─data─> writes records while the socket is writable
//
// kDraining: our side is shut down (FIN sent after any alert), we read and drop
// until the client closes or 5 s pass. Closing with unread input would send a
// RST that can destroy the alert or answer before the client reads it.
#include "tls/ossl.h"
#include "support/tls_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>
#include <utility>

#include "originwatch/status.h"

namespace originwatch::testing {
namespace {

constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr int kDrainTimeoutMs = 5000;
constexpr size_t kEndlessRecord = 5 + 16384;
constexpr size_t kEndlessBurst = 256 * 1024;  // per writable event, for fairness

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}


bool ParseVersion(const std::string& s, int* out) {
  if (s.empty()) {
    *out = 0;
  } else if (s == "TLSv1") {
    *out = TLS1_VERSION;
  } else if (s == "TLSv1.1") {
    *out = TLS1_1_VERSION;
  } else if (s == "TLSv1.2") {
    *out = TLS1_2_VERSION;
  } else if (s == "TLSv1.3") {
    *out = TLS1_3_VERSION;
  } else {
    return false;
  }
  return true;
}

// Parses a sockaddr for a loopback numeric address; false if not loopback.
bool LoopbackSockaddr(const std::string& address, uint16_t port, sockaddr_storage* ss,
                      socklen_t* len) {
  std::memset(ss, 0, sizeof(*ss));
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) return false;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) return false;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

// Bound (and, if listen_backlog > 0, listening) non-blocking socket, or -1.
int BindSocket(const std::string& address, uint16_t port, int listen_backlog, uint16_t* bound) {
  sockaddr_storage ss;
  socklen_t len;
  if (!LoopbackSockaddr(address, port, &ss, &len)) {
    std::fprintf(stderr, "tls_server: %s is not a loopback address (127.0.0.0/8 or ::1)\n",
                 address.c_str());
    return -1;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("tls_server: socket");
    return -1;
  }
  if (listen_backlog > 0) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    std::fprintf(stderr, "tls_server: bind %s:%u: %s\n", address.c_str(), port,
                 std::strerror(errno));
    close(fd);
    return -1;
  }
  if (listen_backlog > 0 && listen(fd, listen_backlog) != 0) {
    std::fprintf(stderr, "tls_server: listen %s:%u: %s\n", address.c_str(), port,
                 std::strerror(errno));
    close(fd);
    return -1;
  }
  sockaddr_storage got;
  socklen_t got_len = sizeof(got);
  getsockname(fd, reinterpret_cast<sockaddr*>(&got), &got_len);
  *bound = ntohs(got.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&got)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&got)->sin6_port);
  return fd;
}

// SNI host_name from the raw server_name extension, nullopt if absent.
std::optional<std::string> ParseSni(SSL* ssl) {
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 2) {
    return std::nullopt;
  }
  size_t list_len = (static_cast<size_t>(p[0]) << 8) | p[1];
  size_t end = std::min(len, 2 + list_len);
  size_t i = 2;
  while (i + 3 <= end) {
    unsigned type = p[i];
    size_t name_len = (static_cast<size_t>(p[i + 1]) << 8) | p[i + 2];
    i += 3;
    if (i + name_len > end) break;
    if (type == TLSEXT_NAMETYPE_host_name) {
      return std::string(reinterpret_cast<const char*>(p + i), name_len);
    }
    i += name_len;
  }
  return std::nullopt;
}

bool NameMatches(const std::string& pattern, const std::string& host) {
  if (strcasecmp(pattern.c_str(), host.c_str()) == 0) return true;
  if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
    size_t dot = host.find('.');
    if (dot == std::string::npos || dot == 0) return false;
    return strcasecmp(pattern.c_str() + 1, host.c_str() + dot) == 0;
  }
  return false;
}

// A well-formed OCSP response "good" for `leaf`, signed by the leaf's own key
// (fake-signed: clients that check the signature will reject it, which is fine
// for tests that only look for a staple).
std::string MakeOcspResponse(X509* leaf, X509* issuer, EVP_PKEY* key) {
  std::string out;
  OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), leaf, issuer ? issuer : leaf);
  OCSP_BASICRESP* bs = OCSP_BASICRESP_new();
  ASN1_TIME* this_update = X509_gmtime_adj(nullptr, -3600);
  ASN1_TIME* next_update = X509_gmtime_adj(nullptr, 7 * 86400);
  OCSP_RESPONSE* resp = nullptr;
  if (id != nullptr && bs != nullptr &&
      OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_GOOD, 0, nullptr, this_update,
                             next_update) != nullptr &&
      OCSP_basic_sign(bs, leaf, key, EVP_sha256(), nullptr, 0) == 1) {
    resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
  }
  if (resp != nullptr) {
    unsigned char* der = nullptr;
    int n = i2d_OCSP_RESPONSE(resp, &der);
    if (n > 0) out.assign(reinterpret_cast<char*>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
  }
  OCSP_RESPONSE_free(resp);
  ASN1_TIME_free(this_update);
  ASN1_TIME_free(next_update);
  OCSP_BASICRESP_free(bs);
  OCSP_CERTID_free(id);
  return out;
}

const char kPlainHttpAnswer[] =
    "HTTP/1.1 400 Bad Request\r\n"
    "Server: originwatch-fleet\r\n"
    "Content-Type: text/html\r\n"
    "Content-Length: 156\r\n"
    "Connection: close\r\n"
    "\r\n"
    "<html>\r\n"
    "<head><title>400 Bad Request</title></head>\r\n"
    "<body>\r\n"
    "<center><h1>400 Bad Request</h1></center>\r\n"
    "<hr><center>originwatch-fleet</center>\r\n"
    "</body>\r\n"
    "</html>\r\n";

}  // namespace

ServedCert::ServedCert(const ServedCert& other)
    : cert(RefX509(other.cert.get())),
      key(RefPkey(other.key.get())),
      names(other.names),
      also(other.also) {
  for (const auto& c : other.chain) chain.push_back(RefX509(c.get()));
}

ServedCert& ServedCert::operator=(const ServedCert& other) {
  if (this != &other) *this = ServedCert(other);
  return *this;
}

ServedCert ServedCert::From(const Issued& issued, std::vector<std::string> names) {
  ServedCert out;
  out.cert = RefX509(issued.cert.get());
  out.key = RefPkey(issued.key.get());
  for (const auto& c : issued.chain) out.chain.push_back(RefX509(c.get()));
  out.names = std::move(names);
  return out;
}

ServedCert ServedCert::Dual(const Issued& primary, const Issued& other,
                            std::vector<std::string> names) {
  ServedCert out = From(primary, std::move(names));
  out.also.push_back(other);
  return out;
}

bool IsLoopbackAddress(const std::string& address) {
  sockaddr_storage ss;
  socklen_t len;
  return LoopbackSockaddr(address, 0, &ss, &len);
}

struct TlsTestServer::Impl {
  enum class Phase {
    kDelay,
    kHandshake,
    kEstablished,
    kPlainRead,
    kBlackhole,
    kResetRead,
    kGarbage,
    kEndless,
    kDraining
  };
  struct Conn {
    uint64_t id = 0;
    int fd = -1;
    SslPtr ssl;
    Phase phase = Phase::kHandshake;
    uint32_t events = 0;  // registered epoll events; 0 = not registered yet
    int64_t deadline_ms = 0;
    size_t cert_index = 0;
    bool wrote = false;  // kGarbage/kEndless: started writing
    size_t endless_offset = 0;

    Conn() = default;
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    ~Conn() {
      ssl.reset();  // the socket BIO does not own the fd (BIO_NOCLOSE)
      if (fd >= 0) close(fd);
    }
  };

  ServerOptions opts;
  std::string address;
  uint16_t port = 0;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  SslCtxPtr ctx;
  std::vector<std::vector<X509StackPtr>> chains;  // per served cert: primary, then also[]
  std::vector<std::string> ocsp;                  // per served cert, DER ("" = none)
  std::string endless_buf;
  std::thread thread;

  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> handshakes{0};
  std::atomic<uint64_t> open{0};
  std::atomic<uint64_t> hellos{0};
  mutable std::mutex sni_mu;
  std::optional<std::string> last_sni;

  // Loop thread only.
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns;
  uint64_t next_id = 2;
  using Timer = std::pair<int64_t, uint64_t>;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers;

  ~Impl() {
    if (thread.joinable()) {
      uint64_t one = 1;
      ssize_t n = write(wake_fd, &one, sizeof(one));
      (void)n;
      thread.join();
    }
    conns.clear();
    if (listen_fd >= 0) close(listen_fd);
    if (epoll_fd >= 0) close(epoll_fd);
    if (wake_fd >= 0) close(wake_fd);
  }

  bool SetupTls();
  void Loop();
  void AcceptAll();
  void Handle(Conn* c, uint32_t ev);
  void OnTimer(Conn* c);
  void SetEvents(Conn* c, uint32_t events);
  void SetDeadline(Conn* c, int64_t deadline_ms);
  void Close(Conn* c);
  void ResetClose(Conn* c);
  void LingerClose(Conn* c);
  void DoHandshake(Conn* c);
  void ReadTls(Conn* c);
  // Reads and drops what is available. Returns false when the peer closed or
  // the socket failed; *got is set when bytes were read.
  bool Drain(Conn* c, bool* got);
  void WriteEndless(Conn* c);

  static int ClientHelloCb(SSL* ssl, int* al, void* arg);
  static int StatusCb(SSL* ssl, void* arg);
  static int AlpnCb(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                    const unsigned char* in, unsigned int inlen, void* arg);
};

bool TlsTestServer::Impl::SetupTls() {
  if (opts.certs.empty()) {
    std::fprintf(stderr, "tls_server: a TLS behaviour needs at least one served cert\n");
    return false;
  }
  int min_v = 0, max_v = 0;
  if (!ParseVersion(opts.min_version, &min_v) || !ParseVersion(opts.max_version, &max_v)) {
    std::fprintf(stderr, "tls_server: bad TLS version \"%s\" / \"%s\"\n", opts.min_version.c_str(),
                 opts.max_version.c_str());
    return false;
  }
  ctx.reset(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return false;
  bool ok = SSL_CTX_set_min_proto_version(ctx.get(), min_v) == 1 &&
            SSL_CTX_set_max_proto_version(ctx.get(), max_v) == 1;
  if (ok && !opts.ciphers.empty()) ok = SSL_CTX_set_cipher_list(ctx.get(), opts.ciphers.c_str());
  if (ok && !opts.ciphersuites.empty()) {
    ok = SSL_CTX_set_ciphersuites(ctx.get(), opts.ciphersuites.c_str());
  }
  if (!ok) {
    std::fprintf(stderr, "tls_server: bad version/cipher settings: %s\n", tls::DrainErrors().c_str());
    return false;
  }
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_client_hello_cb(ctx.get(), &Impl::ClientHelloCb, this);
  if (!opts.alpn.empty()) SSL_CTX_set_alpn_select_cb(ctx.get(), &Impl::AlpnCb, this);
  if (opts.staple_ocsp) {
    SSL_CTX_set_tlsext_status_cb(ctx.get(), &Impl::StatusCb);
    SSL_CTX_set_tlsext_status_arg(ctx.get(), this);
  }
  for (const auto& sc : opts.certs) {
    if (!sc.cert || !sc.key || X509_check_private_key(sc.cert.get(), sc.key.get()) != 1) {
      std::fprintf(stderr, "tls_server: served cert without a matching key\n");
      ERR_clear_error();
      return false;
    }
    auto stack_of = [](const std::vector<X509Ptr>& certs) {
      X509StackPtr sk(sk_X509_new_null());
      for (const auto& c : certs) sk_X509_push(sk.get(), RefX509(c.get()).release());
      return sk;
    };
    std::vector<X509StackPtr> stacks;
    stacks.push_back(stack_of(sc.chain));
    for (const auto& extra : sc.also) {
      if (!extra.cert || !extra.key ||
          X509_check_private_key(extra.cert.get(), extra.key.get()) != 1) {
        std::fprintf(stderr, "tls_server: extra served cert without a matching key\n");
        ERR_clear_error();
        return false;
      }
      stacks.push_back(stack_of(extra.chain));
    }
    chains.push_back(std::move(stacks));
    ocsp.push_back(opts.staple_ocsp
                       ? MakeOcspResponse(sc.cert.get(),
                                          sc.chain.empty() ? nullptr : sc.chain[0].get(),
                                          sc.key.get())
                       : std::string());
  }
  return true;
}

int TlsTestServer::Impl::ClientHelloCb(SSL* ssl, int* al, void* arg) {
  auto* impl = static_cast<Impl*>(arg);
  auto* conn = static_cast<Conn*>(SSL_get_app_data(ssl));
  impl->hellos.fetch_add(1, std::memory_order_relaxed);
  std::optional<std::string> sni = ParseSni(ssl);
  {
    std::lock_guard<std::mutex> lock(impl->sni_mu);
    impl->last_sni = sni;
  }
  const ServerOptions& o = impl->opts;
  int index = -1;
  NoSniAction action = o.no_sni;
  int alert = o.no_sni_alert;
  if (sni) {
    for (size_t i = 0; i < o.certs.size() && index < 0; ++i) {
      for (const auto& name : o.certs[i].names) {
        if (NameMatches(name, *sni)) {
          index = static_cast<int>(i);
          break;
        }
      }
    }
    action = o.unknown_sni;
    alert = o.unknown_sni_alert;
  }
  if (index < 0) {
    switch (action) {
      case NoSniAction::kServeDefault:
        index = 0;
        break;
      case NoSniAction::kAlert:
        *al = alert;
        return SSL_CLIENT_HELLO_ERROR;
      case NoSniAction::kClose:
        // Suspends the handshake (SSL_ERROR_WANT_CLIENT_HELLO_CB) without writing
        // anything; DoHandshake then closes the socket: no alert on the wire.
        return SSL_CLIENT_HELLO_RETRY;
    }
  }
  const ServedCert& sc = o.certs[static_cast<size_t>(index)];
  conn->cert_index = static_cast<size_t>(index);
  const auto& stacks = impl->chains[static_cast<size_t>(index)];
  // One slot per key type: SSL_set1_chain applies to the certificate just set.
  auto use = [&](X509* cert, EVP_PKEY* key, STACK_OF(X509) * chain) {
    return SSL_use_certificate(ssl, cert) == 1 && SSL_use_PrivateKey(ssl, key) == 1 &&
           SSL_set1_chain(ssl, chain) == 1;
  };
  bool ok = use(sc.cert.get(), sc.key.get(), stacks[0].get());
  for (size_t i = 0; ok && i < sc.also.size(); ++i) {
    ok = use(sc.also[i].cert.get(), sc.also[i].key.get(), stacks[i + 1].get());
  }
  if (!ok) {
    *al = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

int TlsTestServer::Impl::StatusCb(SSL* ssl, void* arg) {
  auto* impl = static_cast<Impl*>(arg);
  auto* conn = static_cast<Conn*>(SSL_get_app_data(ssl));
  const std::string& der = impl->ocsp[conn->cert_index];
  if (der.empty()) return SSL_TLSEXT_ERR_NOACK;
  // OpenSSL takes ownership of an OPENSSL_malloc'd buffer.
  auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(der.data(), der.size()));
  if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;
  SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der.size()));
  return SSL_TLSEXT_ERR_OK;
}

int TlsTestServer::Impl::AlpnCb(SSL*, const unsigned char** out, unsigned char* outlen,
                                const unsigned char* in, unsigned int inlen, void* arg) {
  auto* impl = static_cast<Impl*>(arg);
  for (const auto& want : impl->opts.alpn) {  // server preference order
    for (unsigned int i = 0; i < inlen;) {
      unsigned int n = in[i];
      if (i + 1 + n > inlen) break;
      if (n == want.size() && std::memcmp(in + i + 1, want.data(), n) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(n);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + n;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

void TlsTestServer::Impl::SetEvents(Conn* c, uint32_t events) {
  if (c->events == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c->id;
  int op = c->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(epoll_fd, op, c->fd, &ev) != 0) {
    std::perror("tls_server: epoll_ctl");
  }
  c->events = events;
}

void TlsTestServer::Impl::SetDeadline(Conn* c, int64_t deadline_ms) {
  c->deadline_ms = deadline_ms;
  timers.emplace(deadline_ms, c->id);
}

void TlsTestServer::Impl::Close(Conn* c) {
  open.fetch_sub(1, std::memory_order_relaxed);
  conns.erase(c->id);  // destroys c: frees its SSL, closes the fd (leaving the epoll set)
}

void TlsTestServer::Impl::ResetClose(Conn* c) {
  linger lg{1, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  Close(c);
}

void TlsTestServer::Impl::LingerClose(Conn* c) {
  ERR_clear_error();
  shutdown(c->fd, SHUT_WR);
  c->phase = Phase::kDraining;
  SetEvents(c, EPOLLIN | EPOLLRDHUP);
  SetDeadline(c, NowMs() + kDrainTimeoutMs);
}

bool TlsTestServer::Impl::Drain(Conn* c, bool* got) {
  char buf[16384];
  for (int i = 0; i < 64; ++i) {
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n > 0) {
      *got = true;
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

void TlsTestServer::Impl::DoHandshake(Conn* c) {
  ERR_clear_error();
  int r = SSL_do_handshake(c->ssl.get());
  if (r == 1) {
    handshakes.fetch_add(1, std::memory_order_relaxed);
    c->phase = Phase::kEstablished;
    ReadTls(c);
    return;
  }
  switch (SSL_get_error(c->ssl.get(), r)) {
    case SSL_ERROR_WANT_READ:
      SetEvents(c, EPOLLIN);
      return;
    case SSL_ERROR_WANT_WRITE:
      SetEvents(c, EPOLLOUT);
      return;
    default:
      // A fatal alert (if any) is already on the wire; SSL_ERROR_WANT_CLIENT_HELLO_CB
      // is NoSniAction::kClose: nothing written.
      LingerClose(c);
      return;
  }
}

void TlsTestServer::Impl::ReadTls(Conn* c) {
  char buf[16384];
  for (int i = 0; i < 64; ++i) {
    ERR_clear_error();
    int n = SSL_read(c->ssl.get(), buf, sizeof(buf));
    if (n > 0) continue;
    int err = SSL_get_error(c->ssl.get(), n);
    if (err == SSL_ERROR_WANT_READ) {
      SetEvents(c, EPOLLIN);
      return;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
      SetEvents(c, EPOLLOUT);
      return;
    }
    if (err == SSL_ERROR_ZERO_RETURN) SSL_shutdown(c->ssl.get());  // answer close_notify
    ERR_clear_error();
    Close(c);
    return;
  }
  SetEvents(c, EPOLLIN);
}

void TlsTestServer::Impl::WriteEndless(Conn* c) {
  size_t sent_total = 0;
  while (sent_total < kEndlessBurst) {
    const char* p = endless_buf.data() + c->endless_offset;
    size_t n = endless_buf.size() - c->endless_offset;
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      sent_total += static_cast<size_t>(w);
      c->endless_offset = (c->endless_offset + static_cast<size_t>(w)) % endless_buf.size();
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    Close(c);  // EPIPE / ECONNRESET: the client went away
    return;
  }
}

void TlsTestServer::Impl::Handle(Conn* c, uint32_t ev) {
  bool got = false;
  switch (c->phase) {
    case Phase::kDelay:
    case Phase::kBlackhole:
      if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) Close(c);
      return;
    case Phase::kHandshake:
      DoHandshake(c);
      return;
    case Phase::kEstablished:
      ReadTls(c);
      return;
    case Phase::kPlainRead:
      if (!Drain(c, &got)) {
        Close(c);
      } else if (got) {
        ssize_t w = send(c->fd, kPlainHttpAnswer, sizeof(kPlainHttpAnswer) - 1, MSG_NOSIGNAL);
        (void)w;  // a short answer always fits an empty socket buffer
        LingerClose(c);
      }
      return;
    case Phase::kResetRead:
      if (!Drain(c, &got)) {
        Close(c);
      } else if (got) {
        ResetClose(c);
      }
      return;
    case Phase::kGarbage:
      if (!Drain(c, &got)) {
        Close(c);
      } else if (got && !c->wrote) {
        c->wrote = true;
        unsigned char junk[200];
        OW_CHECK(RAND_bytes(junk, sizeof(junk)) == 1);
        // Printable first byte: never a TLS content type (0x14..0x18), never
        // the high bit (an SSLv2-style header), never an HTTP method.
        junk[0] = static_cast<unsigned char>('j' + junk[0] % 8);
        ssize_t w = send(c->fd, junk, sizeof(junk), MSG_NOSIGNAL);
        (void)w;
      }
      return;
    case Phase::kEndless:
      if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (!Drain(c, &got)) {
          Close(c);
          return;
        }
        if (got && !c->wrote) {
          c->wrote = true;
          SetEvents(c, EPOLLIN | EPOLLOUT);
        }
      }
      if (c->wrote && (ev & EPOLLOUT)) WriteEndless(c);
      return;
    case Phase::kDraining:
      if (!Drain(c, &got)) Close(c);
      return;
  }
}

void TlsTestServer::Impl::OnTimer(Conn* c) {
  if (c->phase == Phase::kDelay) {
    c->phase = Phase::kHandshake;
    DoHandshake(c);
  } else if (c->phase == Phase::kDraining) {
    Close(c);
  }
}

void TlsTestServer::Impl::AcceptAll() {
  for (int i = 0; i < 1024; ++i) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) std::perror("tls_server: accept4");
      return;
    }
    accepted.fetch_add(1, std::memory_order_relaxed);
    open.fetch_add(1, std::memory_order_relaxed);
    auto owned = std::make_unique<Conn>();
    Conn* c = owned.get();
    c->id = next_id++;
    c->fd = fd;
    conns.emplace(c->id, std::move(owned));
    switch (opts.behavior) {
      case Behavior::kTls:
      case Behavior::kSlow:
        c->ssl.reset(SSL_new(ctx.get()));
        OW_CHECK(c->ssl != nullptr);
        SSL_set_app_data(c->ssl.get(), c);
        OW_CHECK(SSL_set_fd(c->ssl.get(), fd) == 1);
        SSL_set_accept_state(c->ssl.get());
        if (opts.behavior == Behavior::kSlow && opts.delay_ms > 0) {
          c->phase = Phase::kDelay;
          SetEvents(c, EPOLLRDHUP);
          SetDeadline(c, NowMs() + opts.delay_ms);
        } else {
          c->phase = Phase::kHandshake;
          SetEvents(c, EPOLLIN);
        }
        break;
      case Behavior::kPlainHttp:
        c->phase = Phase::kPlainRead;
        SetEvents(c, EPOLLIN);
        break;
      case Behavior::kBlackhole:
        c->phase = Phase::kBlackhole;
        SetEvents(c, EPOLLRDHUP);
        break;
      case Behavior::kReset:
        c->phase = Phase::kResetRead;
        SetEvents(c, EPOLLIN);
        break;
      case Behavior::kGarbage:
        c->phase = Phase::kGarbage;
        SetEvents(c, EPOLLIN);
        break;
      case Behavior::kEndless:
        c->phase = Phase::kEndless;
        SetEvents(c, EPOLLIN);
        break;
      case Behavior::kRefused:
        Close(c);
        break;
    }
  }
}

void TlsTestServer::Impl::Loop() {
  // The socket BIO writes with write(2): a client that already closed must give
  // EPIPE here, not kill the test process. SIGPIPE is synchronous, so blocking it
  // in this thread is enough.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  epoll_event events[256];
  for (;;) {
    int timeout = -1;
    while (!timers.empty()) {
      auto [when, id] = timers.top();
      auto it = conns.find(id);
      if (it == conns.end() || it->second->deadline_ms != when) {
        timers.pop();  // stale
        continue;
      }
      int64_t wait = when - NowMs();
      if (wait <= 0) {
        timers.pop();
        it->second->deadline_ms = 0;
        OnTimer(it->second.get());
        continue;
      }
      timeout = static_cast<int>(std::min<int64_t>(wait, 1000));
      break;
    }
    int n = epoll_wait(epoll_fd, events, 256, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("tls_server: epoll_wait");
      return;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t id = events[i].data.u64;
      if (id == kWakeId) return;
      if (id == kListenId) {
        AcceptAll();
        continue;
      }
      auto it = conns.find(id);
      if (it == conns.end()) continue;  // closed earlier in this batch
      Handle(it->second.get(), events[i].events);
    }
  }
}

TlsTestServer::TlsTestServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TlsTestServer::~TlsTestServer() = default;

std::unique_ptr<TlsTestServer> TlsTestServer::Start(ServerOptions opts) {
  auto impl = std::make_unique<Impl>();
  impl->opts = std::move(opts);
  impl->address = impl->opts.bind_address;
  const Behavior b = impl->opts.behavior;
  if ((b == Behavior::kTls || b == Behavior::kSlow) && !impl->SetupTls()) return nullptr;
  if (b == Behavior::kEndless) {
    std::string record(kEndlessRecord, '\0');
    const unsigned char header[5] = {0x16, 0x03, 0x03, 0x40, 0x00};
    std::memcpy(record.data(), header, sizeof(header));
    for (int i = 0; i < 4; ++i) impl->endless_buf += record;
  }
  const bool refused = b == Behavior::kRefused;
  impl->listen_fd = BindSocket(impl->address, impl->opts.port, refused ? 0 : 4096, &impl->port);
  if (impl->listen_fd < 0) return nullptr;
  if (refused) return std::unique_ptr<TlsTestServer>(new TlsTestServer(std::move(impl)));

  impl->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  impl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->epoll_fd < 0 || impl->wake_fd < 0) {
    std::perror("tls_server: epoll/eventfd");
    return nullptr;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenId;
  epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, impl->listen_fd, &ev);
  ev.data.u64 = kWakeId;
  epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, impl->wake_fd, &ev);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Loop(); });
  return std::unique_ptr<TlsTestServer>(new TlsTestServer(std::move(impl)));
}

const std::string& TlsTestServer::address() const { return impl_->address; }
uint16_t TlsTestServer::port() const { return impl_->port; }
Behavior TlsTestServer::behavior() const { return impl_->opts.behavior; }
uint64_t TlsTestServer::connections_accepted() const { return impl_->accepted.load(); }
uint64_t TlsTestServer::handshakes_completed() const { return impl_->handshakes.load(); }
uint64_t TlsTestServer::open_connections() const { return impl_->open.load(); }
uint64_t TlsTestServer::client_hellos() const { return impl_->hellos.load(); }

std::optional<std::string> TlsTestServer::last_sni() const {
  std::lock_guard<std::mutex> lock(impl_->sni_mu);
  return impl_->last_sni;
}

std::unique_ptr<ClosedPort> ClosedPort::Reserve(std::string address) {
  uint16_t port = 0;
  int fd = BindSocket(address, 0, 0, &port);
  if (fd < 0) return nullptr;
  return std::unique_ptr<ClosedPort>(new ClosedPort(fd, std::move(address), port));
}

ClosedPort::~ClosedPort() { close(fd_); }

}  // namespace originwatch::testing
