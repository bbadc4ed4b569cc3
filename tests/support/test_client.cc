#include "tls/ossl.h"
#include "support/test_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace originwatch::testing {
namespace {

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int Version(const std::string& s) {
  if (s == "TLSv1.2") return TLS1_2_VERSION;
  if (s == "TLSv1.3") return TLS1_3_VERSION;
  if (s == "TLSv1.1") return TLS1_1_VERSION;
  if (s == "TLSv1") return TLS1_VERSION;
  return 0;
}


void InfoCallback(const SSL* ssl, int where, int ret) {
  // SSL_CB_READ_ALERT and SSL_CB_WRITE_ALERT share the SSL_CB_ALERT bit: test both.
  if ((where & SSL_CB_ALERT) == 0 || (where & SSL_CB_READ) == 0) return;
  auto* out = static_cast<ClientOutcome*>(SSL_get_app_data(ssl));
  if (out != nullptr && out->alert_received < 0) out->alert_received = ret & 0xff;
}

}  // namespace

int ConnectTcp(const std::string& address, uint16_t port, int timeout_ms, int* err) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(*v6);
  } else {
    *err = EINVAL;
    return -1;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  int r = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (r != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    r = poll(&p, 1, timeout_ms);
    if (r == 0) {
      *err = ETIMEDOUT;
      close(fd);
      return -1;
    }
    int so_error = 0;
    socklen_t sl = sizeof(so_error);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &sl);
    if (so_error != 0) {
      *err = so_error;
      close(fd);
      return -1;
    }
  } else if (r != 0) {
    *err = errno;
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  *err = 0;
  return fd;
}

ClientOutcome TlsConnect(const ClientOptions& o) {
  ClientOutcome out;
  const int64_t start = NowMs();
  Fd fd;
  fd.fd = ConnectTcp(o.address, o.port, o.timeout_ms, &out.connect_errno);
  if (fd.fd < 0) return out;
  out = TlsOverFd(fd.fd, o);
  out.elapsed_ms = NowMs() - start;
  return out;
}

ClientOutcome TlsOverFd(int fd_in, const ClientOptions& o) {
  ClientOutcome out;
  const int64_t start = NowMs();

  ERR_clear_error();
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), Version(o.min_version));
  SSL_CTX_set_max_proto_version(ctx.get(), Version(o.max_version));
  if (!o.ciphers.empty()) SSL_CTX_set_cipher_list(ctx.get(), o.ciphers.c_str());
  if (!o.ciphersuites.empty()) SSL_CTX_set_ciphersuites(ctx.get(), o.ciphersuites.c_str());
  if (o.trust != nullptr) X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), o.trust);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // record, never abort
  SSL_CTX_set_info_callback(ctx.get(), InfoCallback);
  if (o.max_cert_list > 0) SSL_CTX_set_max_cert_list(ctx.get(), o.max_cert_list);
  if (!o.alpn.empty()) {
    std::string wire;
    for (const auto& p : o.alpn) wire += static_cast<char>(p.size()) + p;
    SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  SSL_set_app_data(ssl.get(), &out);
  SSL_set_fd(ssl.get(), fd_in);
  if (o.sni) {
    SSL_set_tlsext_host_name(ssl.get(), o.sni->c_str());
    if (o.check_host) SSL_set1_host(ssl.get(), o.sni->c_str());
  }
  if (o.request_ocsp) SSL_set_tlsext_status_type(ssl.get(), TLSEXT_STATUSTYPE_ocsp);

  errno = 0;
  int r = SSL_connect(ssl.get());
  out.elapsed_ms = NowMs() - start;
  if (r != 1) {
    out.sys_errno = errno;
    out.ssl_error = SSL_get_error(ssl.get(), r);
    out.error_text = tls::DrainErrors();
  } else {
    out.handshake_ok = true;
    out.version = SSL_get_version(ssl.get());
    out.cipher = SSL_get_cipher_name(ssl.get());
    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(ssl.get(), &alpn, &alpn_len);
    out.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
    const unsigned char* resp = nullptr;
    long resp_len = SSL_get_tlsext_status_ocsp_resp(ssl.get(), &resp);
    if (resp != nullptr && resp_len > 0) {
      out.ocsp_der.assign(reinterpret_cast<const char*>(resp), static_cast<size_t>(resp_len));
    }
  }
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get());  // borrowed
  if (chain != nullptr) {
    out.chain_len = sk_X509_num(chain);
    out.verify_result = SSL_get_verify_result(ssl.get());
    if (out.chain_len > 0) {
      char cn[256] = {0};
      X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(chain, 0)), NID_commonName, cn,
                                sizeof(cn));
      out.leaf_cn = cn;
    }
  }
  if (out.handshake_ok) SSL_shutdown(ssl.get());
  ERR_clear_error();
  return out;
}

RawOutcome RawExchange(const std::string& address, uint16_t port, const std::string& payload,
                       size_t max_read, int timeout_ms) {
  RawOutcome out;
  Fd fd;
  fd.fd = ConnectTcp(address, port, timeout_ms, &out.connect_errno);
  if (fd.fd < 0) return out;
  if (!payload.empty() && send(fd.fd, payload.data(), payload.size(), MSG_NOSIGNAL) < 0) {
    out.read_errno = errno;
    return out;
  }
  char buf[16384];
  while (out.bytes.size() < max_read) {
    ssize_t n = recv(fd.fd, buf, std::min(sizeof(buf), max_read - out.bytes.size()), 0);
    if (n > 0) {
      out.bytes.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      out.eof = true;
      break;
    } else if (errno != EINTR) {
      out.read_errno = errno;
      break;
    }
  }
  return out;
}

std::string SampleClientHello(const std::string& sni) {
  // Produce a real ClientHello by running a client against a memory BIO.
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);  // ssl owns both
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  SSL_connect(ssl.get());  // WANT_READ after writing the ClientHello
  char* data = nullptr;
  long len = BIO_get_mem_data(wbio, &data);
  ERR_clear_error();
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

}  // namespace originwatch::testing
