// originwatch-load: the load harness. Drives N handshakes with C in flight from
// one engine thread against a TLS server in this process (on loopback), then the
// same handshakes with a plain blocking OpenSSL client, and prints ratios that
// hold on a noisy shared machine: CPU per handshake of the engine thread against
// the blocking client and against the server, and resident memory per
// in-flight handshake.
//
//   originwatch-load [--handshakes 5000] [--concurrency 1000] [--key ec|rsa]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

#include "originwatch/engine.h"
#include "support/pki.h"
#include "support/tls_server.h"

using namespace originwatch;
using namespace originwatch::testing;

namespace {

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double ProcessCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

long RssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

double NowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One blocking handshake with the same settings as the engine's modern profile.
bool BlockingHandshake(SSL_CTX* ctx, const std::string& addr, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, addr.c_str(), &a.sin_addr);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "load.test");
    ok = SSL_connect(ssl) == 1;
    if (ok) {
      // Same chain facts the engine copies, so the comparison is fair.
      STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
      ok = chain != nullptr && sk_X509_num(chain) > 0;
      SSL_shutdown(ssl);
    }
    SSL_free(ssl);
  }
  ::close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  int handshakes = 5000, concurrency = 1000;
  std::string key = "ec";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--handshakes") handshakes = std::atoi(argv[i + 1]);
    else if (a == "--concurrency") concurrency = std::atoi(argv[i + 1]);
    else if (a == "--key") key = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: originwatch-load [--handshakes N] [--concurrency C] [--key ec|rsa]\n");
      return 2;
    }
  }
  if (handshakes < 1 || concurrency < 1 || (key != "ec" && key != "rsa")) {
    std::fprintf(stderr, "originwatch-load: bad arguments\n");
    return 2;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  Pki pki = Pki::Create("originwatch load");
  std::string ca = (std::filesystem::temp_directory_path() / ("ow-load-ca-" + std::to_string(getpid()) + ".pem")).string();
  pki.WriteRootPem(ca);
  ServerOptions so;
  so.certs.push_back(ServedCert::From(
      pki.Leaf({.dns_names = {"load.test"}, .key = key == "rsa" ? KeyKind::kRsa2048 : KeyKind::kEcdsaP256})));
  auto server = TlsTestServer::Start(so);
  if (!server) return 1;
  EngineOptions eo;
  eo.ca_file = ca;
  auto engine_or = Engine::Create(eo);
  if (!engine_or.ok()) {
    std::fprintf(stderr, "originwatch-load: %s\n", engine_or.status().message().c_str());
    return 1;
  }
  auto& engine = *engine_or;

  ProbeSpec spec;
  spec.host = "load.test";
  spec.sni = "load.test";
  spec.expect_names = {"load.test"};
  spec.address = server->address();
  spec.port = server->port();
  spec.timeout_ms = 60000;
  spec.connect_timeout_ms = 30000;

  // Engine run.
  long rss0 = RssKb();
  long rss_peak = rss0;
  double t0 = NowMs(), c0 = ThreadCpuMs(), p0 = ProcessCpuMs();
  int submitted = 0, done = 0, ok = 0;
  while (done < handshakes) {
    while (submitted < handshakes && static_cast<int>(engine->in_flight()) < concurrency) {
      engine->Submit(spec, [&](ProbeResult&& r) {
        ++done;
        if (r.ok()) ++ok;
      });
      ++submitted;
    }
    engine->Poll(100);
    if ((done & 255) == 0) rss_peak = std::max(rss_peak, RssKb());
  }
  double engine_wall = NowMs() - t0, engine_cpu = ThreadCpuMs() - c0;
  double server_cpu = (ProcessCpuMs() - p0) - engine_cpu;

  // Baseline: blocking client, one at a time, same process, same server.
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384");
  int base_n = std::min(handshakes, 2000), base_ok = 0;
  double b0 = NowMs(), bc0 = ThreadCpuMs();
  for (int i = 0; i < base_n; ++i) base_ok += BlockingHandshake(ctx, server->address(), server->port());
  double base_wall = NowMs() - b0, base_cpu = ThreadCpuMs() - bc0;
  SSL_CTX_free(ctx);
  std::filesystem::remove(ca);

  double engine_cpu_per = engine_cpu * 1000 / handshakes;
  double server_cpu_per = server_cpu * 1000 / handshakes;
  double base_cpu_per = base_cpu * 1000 / base_n;
  std::printf("originwatch-load: %d handshakes (%s key), up to %d in flight, ring %s\n", handshakes,
              key.c_str(), concurrency, engine->ring_mode().c_str());
  std::printf("  engine      : %d ok, %.0f handshakes/s wall, %.1f us CPU per handshake (engine thread)\n",
              ok, handshakes * 1000.0 / engine_wall, engine_cpu_per);
  std::printf("  server      : %.1f us CPU per handshake\n", server_cpu_per);
  std::printf("  blocking    : %d/%d ok, %.0f handshakes/s wall, %.1f us CPU per handshake (one at a time)\n",
              base_ok, base_n, base_n * 1000.0 / base_wall, base_cpu_per);
  std::printf("  peak engine in flight: %zu, RSS growth %.1f KiB per in-flight handshake\n",
              engine->stats().peak_in_flight,
              static_cast<double>(rss_peak - rss0) / std::max<size_t>(1, engine->stats().peak_in_flight));
  std::printf("ratios (stable across noisy runs):\n");
  std::printf("  engine CPU / blocking-client CPU per handshake = %.2f\n", engine_cpu_per / base_cpu_per);
  std::printf("  engine CPU / server CPU per handshake          = %.2f\n", engine_cpu_per / server_cpu_per);
  return ok == handshakes && base_ok == base_n ? 0 : 1;
}
