// Cost of copying the facts of a served chain out of OpenSSL (done once per
// successful handshake) and of diagnosing one origin's variants.
#include <benchmark/benchmark.h>

#include <chrono>

#include "originwatch/diagnose.h"
#include "support/pki.h"
#include "tls/facts.h"

namespace originwatch::testing {
namespace {

void BM_ExtractCert(benchmark::State& state) {
  Pki pki = Pki::Create();
  Issued leaf = pki.Leaf({.dns_names = {"a.test", "b.test", "*.c.test"}});
  int64_t n = 0;
  for (auto _ : state) {
    CertInfo c = tls::ExtractCert(leaf.cert.get());
    benchmark::DoNotOptimize(c);
    ++n;
  }
  state.counters["certs"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ExtractCert);

void BM_DiagnoseFourVariants(benchmark::State& state) {
  Pki pki = Pki::Create();
  Issued leaf = pki.Leaf({.dns_names = {"a.test"}});
  std::vector<ProbeResult> results(4);
  for (int i = 0; i < 4; ++i) {
    ProbeResult& r = results[i];
    r.spec.host = "a.test";
    r.spec.address = "127.0.0.1";
    r.spec.expect_names = {"a.test"};
    r.spec.sni = (i % 2 == 0) ? std::optional<std::string>("a.test") : std::nullopt;
    r.spec.profile = i < 2 ? "modern" : "legacy-rsa";
    if (i % 2 == 0) {
      r.outcome = Outcome::kOk;
      r.version = "TLSv1.3";
      r.chain.push_back(tls::ExtractCert(leaf.cert.get()));
      r.chain_verified = true;
      r.verify_code = 0;
      r.names = {{"a.test", true}};
    } else {
      r.outcome = Outcome::kTlsAlert;
      r.alert = 112;
    }
  }
  DiagnoseOptions opts;
  opts.now_s = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
  int64_t n = 0;
  for (auto _ : state) {
    Diagnosis d = Diagnose(results, opts);
    benchmark::DoNotOptimize(d);
    ++n;
  }
  state.counters["origins"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DiagnoseFourVariants);

}  // namespace
}  // namespace originwatch::testing

BENCHMARK_MAIN();
