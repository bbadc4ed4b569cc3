// Handshake throughput of one engine thread against an in-process TLS server on
// loopback, at several concurrency levels. The server shares the machine, so
// read the rates as ratios between rows of one run, not as absolutes.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "originwatch/engine.h"
#include "support/pki.h"
#include "support/tls_server.h"

namespace originwatch::testing {
namespace {

struct Fixture {
  Fixture() {
    pki = std::make_unique<Pki>(Pki::Create());
    ca_file = (std::filesystem::temp_directory_path() / "ow-engine-bench-ca.pem").string();
    pki->WriteRootPem(ca_file);
    ServerOptions o;
    o.certs.push_back(ServedCert::From(pki->Leaf({.dns_names = {"bench.test"}})));
    server = TlsTestServer::Start(o);
    EngineOptions eo;
    eo.ca_file = ca_file;
    auto e = Engine::Create(eo);
    if (e.ok()) engine = std::move(e).value();
  }
  std::unique_ptr<Pki> pki;
  std::string ca_file;
  std::unique_ptr<TlsTestServer> server;
  std::unique_ptr<Engine> engine;
};

Fixture& Shared() {
  static Fixture f;
  return f;
}

void BM_Handshakes(benchmark::State& state) {
  Fixture& f = Shared();
  if (!f.engine || !f.server) {
    state.SkipWithError("engine or server unavailable");
    return;
  }
  const int concurrency = static_cast<int>(state.range(0));
  ProbeSpec spec;
  spec.host = "bench.test";
  spec.sni = "bench.test";
  spec.expect_names = {"bench.test"};
  spec.address = f.server->address();
  spec.port = f.server->port();
  spec.timeout_ms = 30000;
  spec.connect_timeout_ms = 20000;
  int64_t ok = 0, total = 0;
  for (auto _ : state) {
    for (int i = 0; i < concurrency; ++i) {
      f.engine->Submit(spec, [&](ProbeResult&& r) {
        ++total;
        if (r.ok()) ++ok;
      });
    }
    f.engine->RunUntilIdle();
  }
  state.counters["handshakes"] = benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
  state.counters["failed"] = static_cast<double>(total - ok);
}
BENCHMARK(BM_Handshakes)->Arg(1)->Arg(16)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace originwatch::testing

BENCHMARK_MAIN();
