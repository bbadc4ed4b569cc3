// originwatch-load: the load harness. Drives N handshakes with C in flight from
// one engine thread against a TLS server in this process (on loopback), then the
// same handshakes with a plain blocking OpenSSL client, and prints ratios that
// hold on a noisy shared machine: CPU per handshake of the engine thread against
// the blocking client and against the server, and resident memory per
// in-flight handshake.
//
//   originwatch-load [--handshakes 5000] [--concurrency 1000] [--key ec|rsa]
//
// Memory mode: N handshakes started in one tick, all in flight together
// because every byte crosses delay relays (originwatch-delay-relay, RTT =
// 2 x D), against TLS servers in a child process, so that the RSS of this
// process is the engine's alone. Prints the RSS per in-flight handshake at
// its peak, then the RSS per connect still pending (a listener with backlog 0
// that never accepts: its SYNs are dropped and the connects wait).
//
//   originwatch-load --relay-delay-ms 500 --in-flight 10000 [--pending 5000]
//                    [--relay-binary PATH]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/engine.h"
#include "support/pki.h"
#include "support/server_process.h"
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


const char kUsage[] =
    "usage: originwatch-load [--handshakes N] [--concurrency C] [--key ec|rsa]\n"
    "       originwatch-load --relay-delay-ms D --in-flight N [--pending M] [--key ec|rsa]\n"
    "                        [--relay-binary PATH]\n"
    "  The first form: CPU per handshake of the engine against a blocking client and\n"
    "  against the server, N handshakes with C in flight.\n"
    "  The second: N handshakes started in one tick through delay relays (RTT = 2 x D)\n"
    "  against TLS servers in a child process; prints RSS per in-flight handshake at\n"
    "  its peak and RSS per connect still pending (M connects, default N/2).\n";

// The relay binary: --relay-binary, else next to this one (installed), else
// in the build tree (bench/load/.. /relay).
std::string FindRelay(const std::string& given) {
  if (!given.empty()) return given;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  for (auto p : {self / "originwatch-delay-relay", self.parent_path() / "relay" / "originwatch-delay-relay"}) {
    if (std::filesystem::exists(p)) return p.string();
  }
  return "originwatch-delay-relay";
}

// The leaf every server serves: load.test, with the key the command line asks for.
CertOptions LoadLeaf(const std::string& key) {
  return {.dns_names = {"load.test"}, .key = key == "rsa" ? KeyKind::kRsa2048 : KeyKind::kEcdsaP256};
}

// An engine that trusts the test root in `ca`; nullptr (said on stderr) if it cannot start.
std::unique_ptr<Engine> CreateEngine(const std::string& ca) {
  EngineOptions eo;
  eo.ca_file = ca;
  auto engine_or = Engine::Create(eo);
  if (!engine_or.ok()) {
    std::fprintf(stderr, "originwatch-load: %s\n", engine_or.status().message().c_str());
    return nullptr;
  }
  return std::move(*engine_or);
}

ProbeSpec LoadSpec(const std::string& address, uint16_t port, int connect_timeout_ms, int timeout_ms) {
  ProbeSpec spec;
  spec.host = "load.test";
  spec.sni = "load.test";
  spec.expect_names = {"load.test"};
  spec.address = address;
  spec.port = port;
  spec.timeout_ms = timeout_ms;
  spec.connect_timeout_ms = connect_timeout_ms;
  return spec;
}

int RunMemoryMode(int in_flight, int pending, int delay_ms, const std::string& key,
                  const std::string& relay_binary) {
  Pki pki = Pki::Create("originwatch load");
  std::string dir_template = (std::filesystem::temp_directory_path() / "ow-load-XXXXXX").string();
  if (::mkdtemp(dir_template.data()) == nullptr) return 1;
  const std::filesystem::path dir = dir_template;
  const std::string ca = (dir / "ca.pem").string();
  pki.WriteRootPem(ca);

  // A relay takes at most 4,500 connections (two fds each: the hard limit on
  // open files per process is often 20,000), spread over 4 listen ports.
  const int relays = std::max(2, (in_flight + 4499) / 4500);
  const int servers_wanted = std::max(1, std::min(4, in_flight / 2500));
  // TLS servers in a child process, so that their memory is not ours.
  auto server = ServerProcess::Start(pki, servers_wanted, LoadLeaf(key));
  if (!server || server->ports().size() != static_cast<size_t>(servers_wanted)) {
    std::fprintf(stderr, "originwatch-load: the TLS servers did not start\n");
    return 1;
  }
  std::vector<std::unique_ptr<RelayProcess>> relay_children;
  std::string error;
  const std::vector<uint16_t> listen_ports = StartRelays(
      {.binary = FindRelay(relay_binary), .dir = dir, .relays = relays, .listeners = 4, .delay_ms = delay_ms},
      server->ports(), &relay_children, &error);
  if (listen_ports.empty()) {
    std::fprintf(stderr, "originwatch-load: %s\n", error.c_str());
    return 1;
  }

  auto engine = CreateEngine(ca);
  if (!engine) return 1;
  const ProbeSpec spec = LoadSpec("127.0.0.1", 0, 60000, 120000);

  // Pending connects: a listener that never accepts, backlog 0.
  double pending_kib = 0;
  int pending_done = 0;
  {
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(lfd, 0);
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    ProbeSpec ps = spec;
    ps.port = ntohs(a.sin_port);
    ps.connect_timeout_ms = 3000;
    ps.timeout_ms = 3000;
    malloc_trim(0);
    const long base = RssKb();
    for (int i = 0; i < pending; ++i) engine->Submit(ps, [&](ProbeResult&&) { ++pending_done; });
    const double p0 = NowMs();  // every SQE submitted, none can complete
    while (NowMs() - p0 < 500) engine->Poll(50);
    pending_kib = static_cast<double>(RssKb() - base) / std::max(1, pending);
    std::printf("pending: %d connects, %zu still in flight after 0.5 s, RSS %.2f KiB per pending connect\n",
                pending, engine->in_flight(), pending_kib);
    ::close(lfd);
    while (engine->in_flight() > 0 && NowMs() - p0 < 30000) engine->Poll(100);
  }

  malloc_trim(0);
  const long rss0 = RssKb();
  long rss_peak = rss0;
  size_t in_flight_at_peak = 0;
  int done = 0, ok = 0;
  const double t0 = NowMs(), c0 = ThreadCpuMs();
  for (int i = 0; i < in_flight; ++i) {
    ProbeSpec s = spec;
    s.port = listen_ports[static_cast<size_t>(i) % listen_ports.size()];
    engine->Submit(std::move(s), [&](ProbeResult&& r) {
      ++done;
      if (r.ok()) ++ok;
      else if (done - ok <= 3) std::fprintf(stderr, "  failed: %s\n", r.error_text.c_str());
    });
  }
  const double submit_ms = NowMs() - t0;
  while (done < in_flight && NowMs() - t0 < 180000) {
    engine->Poll(20);
    long rss = RssKb();
    if (rss > rss_peak) {
      rss_peak = rss;
      in_flight_at_peak = engine->in_flight();
    }
  }
  const double wall = NowMs() - t0, cpu = ThreadCpuMs() - c0;
  const size_t peak = engine->stats().peak_in_flight;
  std::printf("in flight: %d handshakes (%s key) through %d relays (delay %d ms, RTT %d ms), ring %s\n",
              in_flight, key.c_str(), relays, delay_ms, 2 * delay_ms, engine->ring_mode().c_str());
  std::printf("  %d ok, peak in flight %zu, submit %.0f ms, wall %.1f s, engine CPU %.1f us per handshake\n",
              ok, peak, submit_ms, wall / 1000, cpu * 1000 / std::max(1, in_flight));
  std::printf("  receives issued again for want of a free receive buffer: %llu\n",
              static_cast<unsigned long long>(engine->stats().recv_buffer_waits));
  // Freed memory stays in the heap, so the peak RSS is divided by the peak
  // number in flight (all of them, started together), not by those left then.
  std::printf("  RSS growth at peak %.1f MiB (%zu still in flight then): %.1f KiB per in-flight handshake\n",
              (rss_peak - rss0) / 1024.0, in_flight_at_peak,
              static_cast<double>(rss_peak - rss0) / std::max<size_t>(1, peak));
  engine.reset();
  relay_children.clear();
  server.reset();
  std::filesystem::remove_all(dir);
  return ok == in_flight && pending_done == pending ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int handshakes = 5000, concurrency = 1000, relay_delay_ms = -1, in_flight = 0, pending = -1;
  std::string key = "ec", relay_binary;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--handshakes") handshakes = std::atoi(v.c_str());
    else if (a == "--concurrency") concurrency = std::atoi(v.c_str());
    else if (a == "--key") key = v;
    else if (a == "--relay-delay-ms") relay_delay_ms = std::atoi(v.c_str());
    else if (a == "--in-flight") in_flight = std::atoi(v.c_str());
    else if (a == "--pending") pending = std::atoi(v.c_str());
    else if (a == "--relay-binary") relay_binary = v;
    else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (handshakes < 1 || concurrency < 1 || (key != "ec" && key != "rsa") ||
      (relay_delay_ms >= 0) != (in_flight > 0)) {
    std::fprintf(stderr, "originwatch-load: bad arguments (see --help)\n");
    return 2;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (in_flight > 0) {
    return RunMemoryMode(in_flight, pending < 0 ? in_flight / 2 : pending, relay_delay_ms, key,
                         relay_binary);
  }

  Pki pki = Pki::Create("originwatch load");
  std::string ca = (std::filesystem::temp_directory_path() / ("ow-load-ca-" + std::to_string(getpid()) + ".pem")).string();
  pki.WriteRootPem(ca);
  ServerOptions so;
  so.certs.push_back(ServedCert::From(pki.Leaf(LoadLeaf(key))));
  auto server = TlsTestServer::Start(so);
  if (!server) return 1;
  auto engine = CreateEngine(ca);
  if (!engine) return 1;
  const ProbeSpec spec = LoadSpec(server->address(), server->port(), 30000, 60000);

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
