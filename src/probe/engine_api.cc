// Engine creation and its public methods (engine.h); the connections are in
// engine.cc.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "originwatch/engine.h"
#include "probe/engine_impl.h"
#include "tls/key_decoding.h"

namespace originwatch {

namespace {
tls::ContextOptions ContextOptionsOf(const EngineOptions& options) {
  tls::ContextOptions copts;
  copts.profiles = options.profiles;
  copts.ca_file = options.ca_file;
  copts.request_ocsp = options.request_ocsp;
  copts.known_certs = options.known_certs;
  // ORIGINWATCH_CHAIN_CACHE=0: every chain verified and its facts extracted
  // anew (the cold-cache figure of bench/README.md).
  const char* cache_env = std::getenv("ORIGINWATCH_CHAIN_CACHE");
  copts.cache_chains = options.cache_chains && !(cache_env != nullptr && std::string(cache_env) == "0");
  return copts;
}
}  // namespace

bool PrepareOpenSsl() { return tls::UseBuiltinKeyMethods(); }

uint64_t CaBundleDigest(const std::string& ca_file) {
  FILE* f = std::fopen(ca_file.empty() ? tls::DefaultCaFile() : ca_file.c_str(), "rb");
  if (f == nullptr) return 0;
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  unsigned char buf[16384];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    for (size_t i = 0; i < n; ++i) {
      h ^= buf[i];
      h *= 1099511628211ULL;
    }
  }
  std::fclose(f);
  return h == 0 ? 1 : h;
}

Status Engine::CheckOptions(const EngineOptions& options) {
  auto contexts = tls::ClientContexts::Create(ContextOptionsOf(options));
  return contexts.ok() ? Status::Ok() : contexts.status();
}

Result<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  auto contexts = tls::ClientContexts::Create(ContextOptionsOf(options));
  if (!contexts.ok()) return contexts.status();
  auto ring = core::Ring::Create(options.ring_entries);
  if (!ring.ok()) return ring.status();
  auto impl = std::make_unique<Impl>(options, std::move(ring).value(), std::move(contexts).value());
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() { RunUntilIdle(); }

void Engine::Submit(ProbeSpec spec, Callback cb) { impl_->Submit(std::move(spec), std::move(cb)); }

int Engine::Poll(int timeout_ms) { return impl_->Poll(timeout_ms); }

void Engine::RunUntilIdle() {
  while (impl_->stats_.in_flight > 0) impl_->Poll(1000);
}

size_t Engine::in_flight() const { return impl_->stats_.in_flight; }
const EngineStats& Engine::stats() const { return impl_->stats_; }
const std::string& Engine::ring_mode() const { return impl_->ring_->mode(); }
const std::string& Engine::ca_description() const { return impl_->contexts_->ca_description(); }

std::vector<ProbeResult> Engine::RunAll(const std::vector<ProbeSpec>& specs) {
  std::vector<ProbeResult> out(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    Submit(specs[i], [&out, i](ProbeResult&& r) { out[i] = std::move(r); });
  }
  RunUntilIdle();
  return out;
}


}  // namespace originwatch
