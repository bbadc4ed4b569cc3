// Fast public-key decoding for OpenSSL 3.0.
//
// Why: every certificate a server sends is parsed by d2i_X509 inside the
// handshake, and OpenSSL 3.0 decodes its public key through the provider
// decoders: a decoder context is built, every decoder of every provider is
// enumerated and matched by name, for each certificate. On the project's
// benchmark machine that is ~130-180 us per certificate, a third of a client
// handshake's CPU (bench/README.md, "Where the time goes").
//
// What: OpenSSL 3.0 still carries its built-in (pre-provider) methods for EC
// and RSA keys, and takes the legacy decoder for a key type when an ENGINE
// claims that type's methods. UseBuiltinKeyMethods registers one ENGINE that
// hands back exactly those built-in methods (EVP_PKEY_meth_find) for EC and
// RSA keys. Decoding then costs ~12-40 us per certificate, and signature
// checks on those keys take the built-in path: the same EC and RSA code,
// without the provider fetches. Nothing else changes (X25519 key shares,
// RSA-PSS keys, digests and ciphers stay with the providers).
//
// Process-wide and once: it must run before the first certificate is parsed
// (ClientContexts::Create calls it). ORIGINWATCH_PROVIDER_KEYS=1 in the
// environment leaves OpenSSL as it is (for A/B measurements, or if a future
// OpenSSL makes the trick unnecessary: 3.2 caches decoder contexts).
#pragma once

namespace originwatch::tls {

// Returns true when the built-in methods are in use (now or from an earlier
// call), false when disabled by the environment or unavailable.
bool UseBuiltinKeyMethods();

}  // namespace originwatch::tls
