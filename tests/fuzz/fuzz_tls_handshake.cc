// Fuzzes the client handshake the engine runs (tls::Handshake over memory BIOs,
// with the SSL_CTX of src/tls for a built-in profile): the input is what a
// hostile server sends. Every input must end in kDone or kFailed once the peer
// has closed, Fill must describe it, and nothing may leak (ASan's leak check).
//
// Input layout: byte 0 picks the profile (low bits) and whether SNI is sent
// (bit 7); byte 1 is the size of the pieces the bytes arrive in (0 = all at
// once, n = pieces of n bytes, the handshake advancing after each); the rest is
// the server's byte stream.
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz_check.h"
#include "originwatch/probe.h"
#include "tls/context.h"
#include "tls/handshake.h"

namespace {

using originwatch::tls::ClientContexts;
using originwatch::tls::Handshake;

const ClientContexts& Contexts() {
  static const ClientContexts* contexts = [] {
    originwatch::tls::ContextOptions options;  // built-in profiles, system CA bundle
    // Off: a cache filled by earlier inputs would make a crash depend on the
    // order of inputs, which libFuzzer cannot reproduce.
    options.cache_chains = false;
    auto created = ClientContexts::Create(options);
    FUZZ_CHECK(created.ok());
    return created.value().release();  // lives for the process, as in the agent
  }();
  return *contexts;
}

void Drain(Handshake& hs) {
  uint8_t buf[4096];
  while (hs.TakeOutput(buf, sizeof buf) > 0) {
  }
  FUZZ_CHECK(hs.PendingOutput() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto& profiles = Contexts().profiles();
  const auto& profile = profiles[(data[0] & 0x7f) % profiles.size()];
  originwatch::ProbeSpec spec;
  spec.origin = "fuzz";
  spec.host = "fuzz.example";
  spec.address = "192.0.2.1";
  if (data[0] & 0x80) spec.sni = "fuzz.example";
  spec.profile = profile.name;
  spec.expect_names = {"fuzz.example"};
  const size_t piece = data[1] == 0 ? size : data[1];
  data += 2;
  size -= 2;

  SSL_CTX* ctx = Contexts().Find(profile.name);
  FUZZ_CHECK(ctx != nullptr);
  Handshake hs(ctx, spec, Contexts().request_ocsp());
  Handshake::State st = hs.Advance();
  FUZZ_CHECK(st == Handshake::State::kNeedRead);  // nothing received yet
  FUZZ_CHECK(hs.PendingOutput() > 0);            // the ClientHello
  Drain(hs);
  for (size_t off = 0; off < size && st == Handshake::State::kNeedRead; off += piece) {
    hs.Feed(data + off, std::min(piece, size - off));
    st = hs.Advance();
    Drain(hs);
  }
  if (st == Handshake::State::kNeedRead) {
    hs.FeedEof();
    st = hs.Advance();
    Drain(hs);
    // After the peer closed there is nothing left to wait for: a handshake
    // still waiting would hold a probe until its timeout.
    FUZZ_CHECK(st != Handshake::State::kNeedRead);
  }
  if (st == Handshake::State::kDone) {
    hs.Shutdown();
    Drain(hs);
  }
  FUZZ_CHECK(hs.state() == st);

  originwatch::ProbeResult r;
  r.spec = spec;
  hs.Fill(&r);
  if (st == Handshake::State::kFailed) {
    FUZZ_CHECK(r.outcome != originwatch::Outcome::kOk);
  } else {
    FUZZ_CHECK(r.outcome == originwatch::Outcome::kOk);
  }
  return 0;
}
