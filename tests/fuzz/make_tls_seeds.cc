// Writes the seed corpus of fuzz_tls_handshake: the bytes real OpenSSL servers
// (test PKI leaves) send to our client handshake, recorded over memory BIOs,
// each prefixed with the target's two option bytes. Run it again after a change
// of the built-in profiles:
//   fuzz_make_tls_seeds tests/fuzz/corpus/tls_handshake
// Replayed later the server bytes no longer match the client's random, so
// TLS 1.2 seeds get as far as the certificate chain and the key exchange's
// signature, TLS 1.3 seeds as far as the ServerHello; the fuzzer goes on from
// there.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "originwatch/probe.h"
#include "support/pki.h"
#include "tls/context.h"
#include "tls/handshake.h"

namespace {

using originwatch::testing::Issued;
using originwatch::testing::KeyKind;
using originwatch::testing::Pki;

struct Seed {
  std::string name;
  std::string profile;
  bool sni = true;
  int max_version = TLS1_3_VERSION;
  KeyKind key = KeyKind::kEcdsaP256;
  bool self_signed = false;
};

// Runs our client against an in-memory OpenSSL server; returns what the
// server wrote.
std::string Record(const Seed& s, const Pki& pki, const originwatch::tls::ClientContexts& cc) {
  Issued leaf = s.self_signed ? pki.SelfSigned({.dns_names = {"fuzz.example"}, .key = s.key})
                              : pki.Leaf({.dns_names = {"fuzz.example"}, .key = s.key});
  SSL_CTX* sctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_max_proto_version(sctx, s.max_version);
  SSL_CTX_use_certificate(sctx, leaf.cert.get());
  SSL_CTX_use_PrivateKey(sctx, leaf.key.get());
  for (const auto& c : leaf.chain) SSL_CTX_add1_chain_cert(sctx, c.get());
  SSL_CTX_set_security_level(sctx, 0);
  SSL* server = SSL_new(sctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(server, in, out);
  SSL_set_accept_state(server);

  originwatch::ProbeSpec spec;
  spec.host = "fuzz.example";
  if (s.sni) spec.sni = "fuzz.example";
  spec.profile = s.profile;
  spec.expect_names = {"fuzz.example"};
  originwatch::tls::Handshake hs(cc.Find(s.profile), spec, true);
  std::string recorded;
  for (int round = 0; round < 10; ++round) {
    auto st = hs.Advance();
    uint8_t buf[16384];
    for (size_t n; (n = hs.TakeOutput(buf, sizeof buf)) > 0;) BIO_write(in, buf, static_cast<int>(n));
    if (st != originwatch::tls::Handshake::State::kNeedRead) break;
    SSL_do_handshake(server);
    ERR_clear_error();
    for (int n; (n = BIO_read(out, buf, sizeof buf)) > 0;) {
      recorded.append(reinterpret_cast<char*>(buf), static_cast<size_t>(n));
      hs.Feed(buf, static_cast<size_t>(n));
    }
  }
  SSL_free(server);
  SSL_CTX_free(sctx);
  return recorded;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  originwatch::tls::ContextOptions options;
  options.cache_chains = false;
  auto cc = originwatch::tls::ClientContexts::Create(options);
  if (!cc.ok()) {
    std::fprintf(stderr, "%s\n", cc.status().ToString().c_str());
    return 1;
  }
  const auto& profiles = (*cc)->profiles();
  Pki pki = Pki::Create("fuzz seeds");
  std::vector<Seed> seeds;
  for (const auto& p : profiles) {
    seeds.push_back({p.name + "-tls13-ecdsa", p.name});
    seeds.push_back({p.name + "-tls12-ecdsa", p.name, true, TLS1_2_VERSION});
    seeds.push_back({p.name + "-tls12-rsa", p.name, true, TLS1_2_VERSION, KeyKind::kRsa2048});
  }
  seeds.push_back({"modern-tls12-selfsigned-nosni", profiles[0].name, false, TLS1_2_VERSION,
                   KeyKind::kEcdsaP256, true});
  for (const auto& s : seeds) {
    size_t index = 0;
    while (profiles[index].name != s.profile) ++index;
    std::string bytes = Record(s, pki, **cc);
    std::string file = std::string(argv[1]) + "/" + s.name;
    std::ofstream f(file, std::ios::binary);
    f.put(static_cast<char>(index | (s.sni ? 0x80 : 0)));
    f.put(0);  // all at once
    f << bytes;
    std::printf("%s: %zu bytes\n", file.c_str(), bytes.size() + 2);
  }
  return 0;
}
