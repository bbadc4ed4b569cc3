#include "support/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

namespace originwatch::testing {
namespace {

constexpr size_t kMaxRequest = 64 * 1024;
constexpr auto kConnLimit = std::chrono::seconds(30);  // no connection thread lives longer

int AlpnSelect(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned inlen, void* arg) {
  const auto* prefs = static_cast<const std::vector<std::string>*>(arg);
  for (const std::string& p : *prefs) {
    for (unsigned i = 0; i < inlen;) {
      unsigned len = in[i];
      if (i + 1 + len > inlen) break;
      if (len == p.size() && std::memcmp(in + i + 1, p.data(), len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

struct CannedHttpServer::Impl {
  CannedHttpOptions opts;
  std::string address;
  uint16_t port = 0;
  int listen_fd = -1;
  SSL_CTX* ctx = nullptr;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> connections{0};
  mutable std::mutex mu;
  std::vector<std::string> requests;
  std::vector<std::string> alpns;
  std::vector<std::thread> threads;  // guarded by mu
  std::thread acceptor;

  ~Impl() {
    stop = true;
    if (acceptor.joinable()) acceptor.join();
    std::vector<std::thread> ts;
    {
      std::lock_guard<std::mutex> lock(mu);
      ts.swap(threads);
    }
    for (auto& t : ts) t.join();
    if (listen_fd >= 0) ::close(listen_fd);
    SSL_CTX_free(ctx);
  }

  void Accept() {
    while (!stop) {
      pollfd p{listen_fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      uint64_t nth = ++connections;
      if (opts.serve_connections != 0 && nth > opts.serve_connections) {
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        ::close(fd);
        continue;
      }
      timeval tv{0, 100 * 1000};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      std::lock_guard<std::mutex> lock(mu);
      threads.emplace_back([this, fd] { Serve(fd); });
    }
  }

  // Reads up to cap bytes; >0 bytes, 0 = EOF or error, -1 = nothing yet (timeout slice).
  static long Read(int fd, SSL* ssl, char* buf, size_t cap) {
    if (ssl == nullptr) {
      ssize_t n = ::recv(fd, buf, cap, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return -1;
      return n < 0 ? 0 : n;
    }
    int n = SSL_read(ssl, buf, static_cast<int>(cap));
    if (n > 0) return n;
    int err = SSL_get_error(ssl, n);
    ERR_clear_error();
    return err == SSL_ERROR_WANT_READ ? -1 : 0;
  }

  static bool Write(int fd, SSL* ssl, const std::string& bytes, const std::atomic<bool>& stop,
                    std::chrono::steady_clock::time_point until) {
    size_t off = 0;
    while (off < bytes.size() && !stop && std::chrono::steady_clock::now() < until) {
      size_t chunk = std::min<size_t>(bytes.size() - off, 16 * 1024);
      if (ssl == nullptr) {
        ssize_t n = ::send(fd, bytes.data() + off, chunk, MSG_NOSIGNAL);
        if (n > 0) off += static_cast<size_t>(n);
        else if (!(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
      } else {
        int n = SSL_write(ssl, bytes.data() + off, static_cast<int>(chunk));
        if (n > 0) {
          off += static_cast<size_t>(n);
        } else {
          int err = SSL_get_error(ssl, n);
          ERR_clear_error();
          if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) return false;
        }
      }
    }
    return off == bytes.size();
  }

  void Serve(int fd) {
    // The socket BIO writes with write(2): a client that already closed must
    // give EPIPE here, not kill the test process (SIGPIPE is synchronous, so
    // blocking it in this thread is enough).
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    const auto until = std::chrono::steady_clock::now() + kConnLimit;
    SSL* ssl = nullptr;
    bool ok = true;
    if (ctx != nullptr) {
      ssl = SSL_new(ctx);
      SSL_set_fd(ssl, fd);
      for (;;) {
        int rc = SSL_accept(ssl);
        if (rc == 1) break;
        int err = SSL_get_error(ssl, rc);
        ERR_clear_error();
        if (err != SSL_ERROR_WANT_READ || stop || std::chrono::steady_clock::now() >= until) {
          ok = false;
          break;
        }
      }
      if (ok) {
        const unsigned char* a = nullptr;
        unsigned alen = 0;
        SSL_get0_alpn_selected(ssl, &a, &alen);
        std::lock_guard<std::mutex> lock(mu);
        alpns.emplace_back(a != nullptr ? std::string(reinterpret_cast<const char*>(a), alen) : "");
      }
    }
    std::string req;
    char buf[16 * 1024];
    bool eof = false;
    while (ok && !stop && std::chrono::steady_clock::now() < until &&
           req.find("\r\n\r\n") == std::string::npos && req.size() < kMaxRequest) {
      long n = Read(fd, ssl, buf, sizeof(buf));
      if (n == 0) {
        eof = true;
        break;
      }
      if (n > 0) req.append(buf, static_cast<size_t>(n));
    }
    if (ok && !req.empty()) {
      std::lock_guard<std::mutex> lock(mu);
      requests.push_back(req);
    }
    if (ok && !eof && !opts.answer.empty() && req.find("\r\n\r\n") != std::string::npos) {
      if (Write(fd, ssl, opts.answer, stop, until)) {
        if (ssl != nullptr) SSL_shutdown(ssl);
        ::shutdown(fd, SHUT_WR);
      }
    }
    // Until the client closes (a server that never answers holds on too).
    while (ok && !eof && !stop && std::chrono::steady_clock::now() < until) {
      long n = Read(fd, ssl, buf, sizeof(buf));
      if (n == 0) break;
    }
    if (ssl != nullptr) SSL_free(ssl);
    ::close(fd);
  }
};

std::unique_ptr<CannedHttpServer> CannedHttpServer::Start(CannedHttpOptions opts) {
  auto impl = std::make_unique<Impl>();
  impl->opts = std::move(opts);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (inet_pton(AF_INET, impl->opts.bind_address.c_str(), &sa.sin_addr) != 1) {
    std::fprintf(stderr, "CannedHttpServer: not an IPv4 address: %s\n", impl->opts.bind_address.c_str());
    return nullptr;
  }
  impl->listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  socklen_t len = sizeof(sa);
  if (impl->listen_fd < 0 || ::bind(impl->listen_fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      ::listen(impl->listen_fd, 64) != 0 ||
      ::getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    std::fprintf(stderr, "CannedHttpServer: cannot listen: %s\n", std::strerror(errno));
    return nullptr;
  }
  impl->address = impl->opts.bind_address;
  impl->port = ntohs(sa.sin_port);
  if (impl->opts.tls) {
    impl->ctx = SSL_CTX_new(TLS_server_method());
    const Issued& is = *impl->opts.tls;
    if (impl->ctx == nullptr || SSL_CTX_use_certificate(impl->ctx, is.cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(impl->ctx, is.key.get()) != 1) {
      std::fprintf(stderr, "CannedHttpServer: bad certificate\n");
      return nullptr;
    }
    for (const X509Ptr& x : is.chain) SSL_CTX_add1_chain_cert(impl->ctx, x.get());
    if (!impl->opts.alpn.empty()) SSL_CTX_set_alpn_select_cb(impl->ctx, AlpnSelect, &impl->opts.alpn);
  }
  Impl* raw = impl.get();
  impl->acceptor = std::thread([raw] { raw->Accept(); });
  return std::unique_ptr<CannedHttpServer>(new CannedHttpServer(std::move(impl)));
}

CannedHttpServer::CannedHttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CannedHttpServer::~CannedHttpServer() = default;
const std::string& CannedHttpServer::address() const { return impl_->address; }
uint16_t CannedHttpServer::port() const { return impl_->port; }
uint64_t CannedHttpServer::connections() const { return impl_->connections.load(); }
std::vector<std::string> CannedHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->requests;
}
std::vector<std::string> CannedHttpServer::alpn_selected() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->alpns;
}

}  // namespace originwatch::testing
