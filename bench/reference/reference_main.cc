// originwatch-reference: the floor a TLS client can reach with OpenSSL alone.
// A client SSL and a server SSL live in one thread and talk over memory BIOs,
// so no socket, no kernel and no event loop is counted: only the client's
// OpenSSL work. Every client-side call (SSL_new, SSL_set_*, SSL_do_handshake,
// the BIO reads and writes that move its bytes, SSL_free) is timed with
// CLOCK_THREAD_CPUTIME_ID; the server's calls are not. TLS 1.3, no session
// reuse (no tickets, no cache), a fresh SSL per handshake, as a probe does.
//
// Output: one line per mode, key=value pairs, for bench/compare:
//   reference mode=verify handshakes=N errors=E seconds=S client_us_per_hs=X
//   server_us_per_hs=Y p50_ms=A p99_ms=B timed_calls_per_hs=C clock_ns_per_call=D
// p50/p99 are wall times of the whole in-memory handshake (client + server).
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

int64_t NowNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Accumulates the thread CPU time of the client-side calls.
struct ClientClock {
  int64_t ns = 0;
  uint64_t calls = 0;
  template <typename F>
  auto operator()(F&& f) {
    const int64_t t0 = NowNs(CLOCK_THREAD_CPUTIME_ID);
    auto r = f();
    ns += NowNs(CLOCK_THREAD_CPUTIME_ID) - t0;
    ++calls;
    return r;
  }
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "originwatch-reference: %s\n", what.c_str());
  ERR_print_errors_fp(stderr);
  std::exit(1);
}

SslCtxPtr ServerCtx(const std::string& chain, const std::string& key) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) Die("SSL_CTX_new (server)");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), chain.c_str()) != 1) Die("cannot load chain " + chain);
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) Die("cannot load key " + key);
  return ctx;
}

SslCtxPtr ClientCtx(const std::string& ca, bool verify) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) Die("SSL_CTX_new (client)");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  if (verify) {
    // The store holds the root only: the intermediate comes from the server.
    if (SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr) != 1) Die("cannot load CA " + ca);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  return ctx;
}

// Moves every pending byte from `from` to `to` through a stack buffer. The
// side whose BIO is timed is chosen by the caller.
void Pump(BIO* from, BIO* to, ClientClock* client_reads, ClientClock* client_writes) {
  char buf[16384];
  for (;;) {
    int n = client_reads ? (*client_reads)([&] { return BIO_read(from, buf, sizeof buf); })
                         : BIO_read(from, buf, sizeof buf);
    if (n <= 0) return;
    int w = client_writes ? (*client_writes)([&] { return BIO_write(to, buf, n); }) : BIO_write(to, buf, n);
    if (w != n) Die("BIO_write short");
  }
}

struct ModeResult {
  uint64_t handshakes = 0;
  uint64_t errors = 0;
  double seconds = 0;
  int64_t client_ns = 0;
  int64_t server_ns = 0;
  uint64_t client_calls = 0;
  std::vector<double> wall_ms;
};

// One handshake; returns false (and counts nothing of the client) on failure.
bool Handshake(SSL_CTX* cctx, SSL_CTX* sctx, bool verify, ClientClock& cc, int64_t& server_ns) {
  SSL* c = cc([&] { return SSL_new(cctx); });
  if (!c) Die("SSL_new (client)");
  BIO* c_in = cc([&] { return BIO_new(BIO_s_mem()); });
  BIO* c_out = cc([&] { return BIO_new(BIO_s_mem()); });
  cc([&] {
    SSL_set_bio(c, c_in, c_out);
    SSL_set_connect_state(c);
    SSL_set_tlsext_host_name(c, "bench.test");
    return verify ? SSL_set1_host(c, "bench.test") : 1;
  });

  int64_t s0 = NowNs(CLOCK_THREAD_CPUTIME_ID);
  SSL* s = SSL_new(sctx);
  BIO* s_in = BIO_new(BIO_s_mem());
  BIO* s_out = BIO_new(BIO_s_mem());
  SSL_set_bio(s, s_in, s_out);
  SSL_set_accept_state(s);
  server_ns += NowNs(CLOCK_THREAD_CPUTIME_ID) - s0;

  bool c_done = false, s_done = false, ok = true;
  for (int round = 0; round < 16 && !(c_done && s_done); ++round) {
    if (!c_done) {
      int r = cc([&] { return SSL_do_handshake(c); });
      if (r == 1) {
        c_done = true;
      } else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ) {
        ok = false;
        break;
      }
    }
    Pump(c_out, s_in, &cc, nullptr);  // client reads its output; the server's write is not counted
    s0 = NowNs(CLOCK_THREAD_CPUTIME_ID);
    if (!s_done) {
      int r = SSL_do_handshake(s);
      if (r == 1) {
        s_done = true;
      } else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ) {
        ok = false;
      }
    }
    server_ns += NowNs(CLOCK_THREAD_CPUTIME_ID) - s0;
    if (!ok) break;
    Pump(s_out, c_in, nullptr, &cc);  // the client's write into its input BIO is counted
  }
  if (ok && !(c_done && s_done)) ok = false;
  if (ok && verify && SSL_get_verify_result(c) != X509_V_OK) ok = false;
  if (ok && SSL_version(c) != TLS1_3_VERSION) ok = false;
  if (!ok) ERR_clear_error();
  cc([&] {
    SSL_free(c);
    return 0;
  });
  s0 = NowNs(CLOCK_THREAD_CPUTIME_ID);
  SSL_free(s);
  server_ns += NowNs(CLOCK_THREAD_CPUTIME_ID) - s0;
  return ok;
}

ModeResult RunMode(const std::string& ca, SSL_CTX* sctx, bool verify, double seconds, uint64_t max_hs) {
  SslCtxPtr cctx = ClientCtx(ca, verify);
  ModeResult m;
  const int64_t start = NowNs(CLOCK_MONOTONIC);
  const int64_t limit = start + static_cast<int64_t>(seconds * 1e9);
  for (;;) {
    const int64_t t0 = NowNs(CLOCK_MONOTONIC);
    if (t0 >= limit || (max_hs > 0 && m.handshakes + m.errors >= max_hs)) break;
    ClientClock cc;
    int64_t server_ns = 0;
    const bool ok = Handshake(cctx.get(), sctx, verify, cc, server_ns);
    const int64_t t1 = NowNs(CLOCK_MONOTONIC);
    if (ok) {
      ++m.handshakes;
      m.client_ns += cc.ns;
      m.server_ns += server_ns;
      m.client_calls += cc.calls;
      m.wall_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
    } else {
      ++m.errors;
    }
  }
  m.seconds = static_cast<double>(NowNs(CLOCK_MONOTONIC) - start) / 1e9;
  return m;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// The cost of one timed call's two clock reads, to judge the instrumentation.
double ClockNsPerCall() {
  const int kN = 20000;
  const int64_t t0 = NowNs(CLOCK_THREAD_CPUTIME_ID);
  for (int i = 0; i < kN; ++i) (void)NowNs(CLOCK_THREAD_CPUTIME_ID);
  return 2.0 * static_cast<double>(NowNs(CLOCK_THREAD_CPUTIME_ID) - t0) / kN;
}

void Usage(FILE* f) {
  std::fprintf(f,
               "usage: originwatch-reference --ca ROOT.pem --chain CHAIN.pem --key LEAF.key\n"
               "                             [--verify] [--no-verify] [--seconds S] [--handshakes N]\n"
               "In-process TLS 1.3 handshakes over memory BIOs; prints the client's CPU per\n"
               "handshake, one line per mode (both modes when neither flag is given).\n"
               "  --seconds S     wall time per mode (default 5)\n"
               "  --handshakes N  stop a mode after N handshakes (default: no limit)\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string ca, chain, key;
  bool want_verify = false, want_no_verify = false;
  double seconds = 5;
  uint64_t max_hs = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "originwatch-reference: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--ca") ca = value();
    else if (a == "--chain") chain = value();
    else if (a == "--key") key = value();
    else if (a == "--verify") want_verify = true;
    else if (a == "--no-verify") want_no_verify = true;
    else if (a == "--seconds") seconds = std::atof(value().c_str());
    else if (a == "--handshakes") max_hs = std::strtoull(value().c_str(), nullptr, 10);
    else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "originwatch-reference: unknown argument %s\n", a.c_str());
      Usage(stderr);
      return 2;
    }
  }
  if (chain.empty() || key.empty() || seconds <= 0) {
    Usage(stderr);
    return 2;
  }
  if (!want_verify && !want_no_verify) want_verify = want_no_verify = true;
  if (want_verify && ca.empty()) {
    std::fprintf(stderr, "originwatch-reference: --verify needs --ca\n");
    return 2;
  }

  SslCtxPtr sctx = ServerCtx(chain, key);
  const double clock_ns = ClockNsPerCall();
  int rc = 0;
  for (bool verify : {true, false}) {
    if ((verify && !want_verify) || (!verify && !want_no_verify)) continue;
    ModeResult m = RunMode(ca, sctx.get(), verify, seconds, max_hs);
    const double hs = static_cast<double>(std::max<uint64_t>(m.handshakes, 1));
    std::printf(
        "reference mode=%s handshakes=%llu errors=%llu seconds=%.3f client_us_per_hs=%.1f "
        "server_us_per_hs=%.1f p50_ms=%.3f p99_ms=%.3f timed_calls_per_hs=%.1f clock_ns_per_call=%.0f\n",
        verify ? "verify" : "no-verify", static_cast<unsigned long long>(m.handshakes),
        static_cast<unsigned long long>(m.errors), m.seconds, static_cast<double>(m.client_ns) / 1e3 / hs,
        static_cast<double>(m.server_ns) / 1e3 / hs, Percentile(m.wall_ms, 0.50), Percentile(m.wall_ms, 0.99),
        static_cast<double>(m.client_calls) / hs, clock_ns);
    std::fflush(stdout);
    if (m.handshakes == 0) rc = 1;
  }
  return rc;
}
