#include "tls/handshake.h"

#include <arpa/inet.h>
#include <algorithm>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <string>
#include <vector>

#include "originwatch/status.h"
#include "tls/context.h"
#include "tls/facts.h"

namespace originwatch::tls {
namespace {

Handshake* FromSsl(const SSL* ssl) { return static_cast<Handshake*>(SSL_get_app_data(ssl)); }

int VerifyTrampoline(int preverify_ok, X509_STORE_CTX* ctx) {
  if (!preverify_ok) {
    auto* ssl = static_cast<SSL*>(
        X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
    if (ssl != nullptr) {
      FromSsl(ssl)->OnVerifyError(X509_STORE_CTX_get_error(ctx),
                                  X509_STORE_CTX_get_error_depth(ctx));
    }
  }
  // Keep verifying and keep the handshake going: a probe records facts, the
  // diagnosis decides what they mean.
  return 1;
}

void InfoTrampoline(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_ALERT) == 0) return;
  FromSsl(ssl)->OnAlert((where & SSL_CB_READ) != 0, (ret >> 8) & 0xff, ret & 0xff);
}

bool IsNotTlsReason(int reason) {
  switch (reason) {
    case SSL_R_WRONG_VERSION_NUMBER:   // "wrong version number": most often plaintext
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_UNKNOWN_PROTOCOL:
      return true;
    default:
      return false;
  }
}

bool IsProtocolReason(int reason) {
  switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_WRONG_SSL_VERSION:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_UNSUPPORTED_SSL_VERSION:
      return true;
    default:
      return false;
  }
}

bool IsCipherReason(int reason) {
  switch (reason) {
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_WRONG_CIPHER_RETURNED:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
      return true;
    default:
      return false;
  }
}

}  // namespace

int CertVerifyTrampoline(X509_STORE_CTX* sctx, void* arg) {
  auto* shared = static_cast<ContextShared*>(arg);
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  Handshake* hs = ssl != nullptr ? FromSsl(ssl) : nullptr;
  if (hs == nullptr || shared == nullptr || shared->cache == nullptr) return X509_verify_cert(sctx);
  return hs->VerifyChain(sctx, shared->cache);
}

int Handshake::VerifyChain(X509_STORE_CTX* sctx, ChainCache* cache) {
  // The key: the served certificates' digests in order (OpenSSL passes the
  // whole served list, leaf first, as the untrusted set).
  STACK_OF(X509)* served = X509_STORE_CTX_get0_untrusted(sctx);
  digests_.clear();
  std::string key;
  int n = served != nullptr ? sk_X509_num(served) : 0;
  key.reserve(static_cast<size_t>(n) * 32);
  for (int i = 0; i < n; ++i) {
    X509* x = sk_X509_value(served, i);
    Digest d;
    if (!CertDigest(x, &d)) {
      digests_.clear();
      return X509_verify_cert(sctx);  // cannot be keyed: verify, uncached
    }
    digests_.emplace_back(x, d);
    key.append(reinterpret_cast<const char*>(d.data()), d.size());
  }
  if (n == 0 || X509_STORE_CTX_get0_cert(sctx) != sk_X509_value(served, 0))
    return X509_verify_cert(sctx);
  int64_t now = static_cast<int64_t>(::time(nullptr));
  if (const Verdict* v = cache->FindVerdict(key, now)) {
    if (v->first_code != 0) OnVerifyError(v->first_code, v->first_depth);
    X509_STORE_CTX_set_error(sctx, v->final_code);
    return v->rc;
  }
  int rc = X509_verify_cert(sctx);
  Verdict v;
  v.rc = rc;
  v.first_code = verify_code_;
  v.first_depth = verify_depth_;
  v.final_code = X509_STORE_CTX_get_error(sctx);
  // The built chain holds the trust anchor from the store: its validity
  // counts as much as the served certificates'.
  v.expires_at = std::min({now + ChainCache::kVerdictMaxAgeS, NextValidityChange(served, now),
                           NextValidityChange(X509_STORE_CTX_get0_chain(sctx), now)});
  cache->PutVerdict(std::move(key), v);
  return rc;
}

Handshake::Handshake(SSL_CTX* ctx, const ProbeSpec& spec, bool request_ocsp) {
  ERR_clear_error();
  ssl_.reset(SSL_new(ctx));
  OW_CHECK(ssl_ != nullptr);
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  OW_CHECK(rbio_ != nullptr && wbio_ != nullptr);
  // An empty memory BIO means "no data yet" (retry), not end of file, until
  // the peer really closed (FeedEof).
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_.get(), rbio_, wbio_);
  SSL_set_app_data(ssl_.get(), this);
  SSL_set_connect_state(ssl_.get());
  SSL_set_verify(ssl_.get(), SSL_VERIFY_NONE, VerifyTrampoline);
  SSL_set_info_callback(ssl_.get(), InfoTrampoline);
  if (spec.sni) SSL_set_tlsext_host_name(ssl_.get(), spec.sni->c_str());
  if (request_ocsp) SSL_set_tlsext_status_type(ssl_.get(), TLSEXT_STATUSTYPE_ocsp);
}

Handshake::~Handshake() = default;

void Handshake::OnVerifyError(int code, int depth) {
  if (verify_code_ == 0) {
    verify_code_ = code;
    verify_depth_ = depth;
  }
}

void Handshake::OnAlert(bool read, int level, int desc) {
  // A warning-level alert (e.g. 112 as a warning in TLS 1.2) does not end the
  // handshake: only a fatal one classifies a failure as tls_alert.
  if (read) {
    if (level == SSL3_AL_FATAL) {
      if (alert_read_ < 0) alert_read_ = desc;
    } else {
      warning_read_ = desc;
    }
  } else if (alert_sent_ < 0 || level == SSL3_AL_FATAL) {
    alert_sent_ = desc;
  }
}

void Handshake::Feed(const uint8_t* data, size_t n) {
  if (first_bytes_.size() < 64) {
    first_bytes_.append(reinterpret_cast<const char*>(data), std::min(n, 64 - first_bytes_.size()));
  }
  int w = BIO_write(rbio_, data, static_cast<int>(n));
  OW_CHECK(w == static_cast<int>(n));
}

void Handshake::FeedEof() {
  eof_ = true;
  BIO_set_mem_eof_return(rbio_, 0);
}

size_t Handshake::PendingOutput() const { return BIO_ctrl_pending(wbio_); }

size_t Handshake::TakeOutput(uint8_t* buf, size_t cap) {
  int n = BIO_read(wbio_, buf, static_cast<int>(cap));
  return n > 0 ? static_cast<size_t>(n) : 0;
}

void Handshake::Shutdown() {
  if (state_ != State::kDone) return;
  ERR_clear_error();
  SSL_shutdown(ssl_.get());
  ERR_clear_error();
}

void Handshake::OfferOnlyAlpn(const std::string& protocol) {
  std::string wire(1, static_cast<char>(protocol.size()));
  wire += protocol;
  SSL_set_alpn_protos(ssl_.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                      static_cast<unsigned>(wire.size()));
}

bool Handshake::WriteApp(const void* data, size_t n) {
  if (state_ != State::kDone) return false;
  ERR_clear_error();
  int rc = SSL_write(ssl_.get(), data, static_cast<int>(n));
  if (rc == static_cast<int>(n)) return true;
  app_error_ = DrainErrors(nullptr);
  if (app_error_.empty()) app_error_ = "SSL_write failed (SSL_get_error " + std::to_string(SSL_get_error(ssl_.get(), rc)) + ")";
  return false;
}

long Handshake::ReadApp(void* buf, size_t cap) {
  if (state_ != State::kDone) return kAppError;
  ERR_clear_error();
  int rc = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(cap, 1 << 30)));
  if (rc > 0) return rc;
  int err = SSL_get_error(ssl_.get(), rc);
  if (err == SSL_ERROR_WANT_READ && !eof_) return 0;
  if (err == SSL_ERROR_ZERO_RETURN || eof_) {
    ERR_clear_error();
    return kAppEnd;
  }
  app_error_ = DrainErrors(nullptr);
  if (app_error_.empty()) app_error_ = "SSL_read failed (SSL_get_error " + std::to_string(err) + ")";
  return kAppError;
}

Handshake::State Handshake::Advance() {
  if (state_ != State::kNeedRead) return state_;
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) {
    state_ = State::kDone;
    return state_;
  }
  int err = SSL_get_error(ssl_.get(), rc);
  if (err == SSL_ERROR_WANT_READ && !eof_) return state_;
  Classify(err);
  state_ = State::kFailed;
  return state_;
}

void Handshake::Classify(int ssl_error) {
  // Read SSL_get_error first, then drain the queue (seastar tls_openssl.cc).
  std::vector<unsigned long> codes;
  std::string text = DrainErrors(&codes);
  int first_reason = 0;
  bool not_tls = false, protocol = false, cipher = false, too_large = false;
  for (unsigned long e : codes) {
    int reason = ERR_GET_REASON(e);
    if (first_reason == 0) first_reason = reason;
    not_tls |= IsNotTlsReason(reason);
    protocol |= IsProtocolReason(reason);
    cipher |= IsCipherReason(reason);
    too_large |= reason == SSL_R_EXCESSIVE_MESSAGE_SIZE;
  }
  // A TLS record starts with a content type 20..24. Anything else in the
  // first byte means the port does not speak TLS, whatever OpenSSL called it.
  bool first_byte_not_tls =
      !first_bytes_.empty() &&
      (static_cast<uint8_t>(first_bytes_[0]) < 20 || static_cast<uint8_t>(first_bytes_[0]) > 24);

  if (alert_read_ == SSL_AD_PROTOCOL_VERSION || (alert_read_ < 0 && protocol)) {
    fail_outcome_ = Outcome::kProtocolMismatch;
  } else if (alert_read_ >= 0) {
    fail_outcome_ = Outcome::kTlsAlert;
  } else if (first_byte_not_tls || not_tls) {
    fail_outcome_ = Outcome::kNotTls;
  } else if (too_large) {
    fail_outcome_ = Outcome::kTooLarge;
  } else if (cipher) {
    fail_outcome_ = Outcome::kNoSharedCipher;
  } else if (eof_ || ssl_error == SSL_ERROR_ZERO_RETURN ||
             first_reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    fail_outcome_ = Outcome::kUnexpectedEof;
    if (text.empty()) text = "the server closed the connection during the handshake";
  } else {
    fail_outcome_ = Outcome::kTlsError;
  }
  if (text.empty()) text = "SSL_do_handshake failed (SSL_get_error " + std::to_string(ssl_error) + ")";
  error_text_ = std::move(text);
}

void Handshake::FillChain(STACK_OF(X509)* chain, ProbeResult* r) const {
  const auto* shared = static_cast<const ContextShared*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl_.get())));
  ChainCache* cache = shared != nullptr ? shared->cache : nullptr;
  const KnownCertificates* known = shared != nullptr ? shared->known : nullptr;
  int n = sk_X509_num(chain);
  r->chain.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    X509* x = sk_X509_value(chain, i);
    Digest d;
    bool have = false;
    for (const auto& [cert, digest] : digests_) {
      if (cert == x) {
        d = digest;
        have = true;
        break;
      }
    }
    if (cache == nullptr || (!have && !CertDigest(x, &d))) {
      r->chain.push_back(ExtractCert(x));
      continue;
    }
    const ChainCache::Facts& f = cache->FactsOf(x, d);
    r->chain.push_back(f.info);
    // The store needs the DER only of a certificate it has never seen.
    if (known == nullptr || !known->Contains(f.info.sha256_hex)) r->chain.back().der = f.der;
  }
}

void Handshake::Fill(ProbeResult* r) const {
  r->alert = alert_read_;
  r->alert_sent = alert_sent_;
  SSL* ssl = ssl_.get();
  // The chain as served, leaf first (client side: includes the leaf).
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  r->chain.clear();
  if (chain != nullptr) FillChain(chain, r);
  if (state_ == State::kFailed) {
    r->outcome = fail_outcome_;
    r->error_text = error_text_;
    if (fail_outcome_ == Outcome::kNotTls) r->first_bytes = PrintableExcerpt(first_bytes_);
    if (alert_read_ < 0 && warning_read_ >= 0) {
      r->error_text += " (after a warning alert " + std::to_string(warning_read_) + " " +
                       std::string(TlsAlertName(warning_read_)) + ")";
    }
    return;
  }
  if (state_ != State::kDone) return;
  r->outcome = Outcome::kOk;
  r->version = SSL_get_version(ssl);
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) r->cipher = SSL_CIPHER_get_name(c);
  int group = SSL_get_negotiated_group(ssl);
  if (group > 0) {
    const char* name = SSL_group_to_name(ssl, group);
    if (name == nullptr) name = OBJ_nid2sn(group);
    if (name != nullptr) r->group = name;
  }
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn != nullptr) r->alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  const unsigned char* ocsp = nullptr;
  r->ocsp_stapled = SSL_get_tlsext_status_ocsp_resp(ssl, &ocsp) > 0 && ocsp != nullptr;

  if (r->chain.empty()) {
    r->verify_code = -1;
  } else {
    int code = verify_code_ != 0 ? verify_code_ : static_cast<int>(SSL_get_verify_result(ssl));
    r->verify_code = code;
    r->chain_verified = code == X509_V_OK;
    r->verify_depth = code == X509_V_OK ? -1 : verify_depth_;
    r->verify_error = code == X509_V_OK ? "" : X509_verify_cert_error_string(code);
  }
  X509* leaf = SSL_get0_peer_certificate(ssl);
  r->names.clear();
  for (const std::string& name : r->spec.expect_names) {
    ProbeResult::NameCheck nc{name, false};
    if (leaf != nullptr) nc.covered = CoversName(leaf, name);
    r->names.push_back(nc);
  }
}

}  // namespace originwatch::tls
