// The ENGINE API is deprecated in OpenSSL 3.0 but present and supported for
// its whole life; this file is the only user (see key_decoding.h for why).
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "tls/key_decoding.h"

#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/opensslconf.h>
#ifndef OPENSSL_NO_ENGINE
#include <openssl/engine.h>
#endif

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace originwatch::tls {
namespace {

#ifndef OPENSSL_NO_ENGINE
const int kKeyTypes[] = {NID_X9_62_id_ecPublicKey, NID_rsaEncryption};

// ENGINE_PKEY_METHS_PTR: with pmeth == nullptr, lists the key types; else
// hands back OpenSSL's own built-in method for nid.
int BuiltinPkeyMethods(ENGINE*, EVP_PKEY_METHOD** pmeth, const int** nids, int nid) {
  if (pmeth == nullptr) {
    *nids = kKeyTypes;
    return static_cast<int>(sizeof(kKeyTypes) / sizeof(kKeyTypes[0]));
  }
  *pmeth = const_cast<EVP_PKEY_METHOD*>(EVP_PKEY_meth_find(nid));
  return *pmeth != nullptr ? 1 : 0;
}

bool Install() {
  const char* off = std::getenv("ORIGINWATCH_PROVIDER_KEYS");
  if (off != nullptr && std::strcmp(off, "1") == 0) return false;
  for (int nid : kKeyTypes) {
    if (EVP_PKEY_meth_find(nid) == nullptr) return false;  // no built-in method: leave it
  }
  ENGINE* e = ENGINE_new();
  if (e == nullptr) return false;
  // Registered, not initialised: OpenSSL takes (and at exit releases) the
  // functional reference itself when it first selects the ENGINE for a key
  // type, and frees the ENGINE with its list at exit, so nothing leaks.
  bool ok = ENGINE_set_id(e, "originwatch-builtin-keys") == 1 &&
            ENGINE_set_name(e, "OpenSSL built-in EC and RSA key methods") == 1 &&
            ENGINE_set_pkey_meths(e, BuiltinPkeyMethods) == 1 && ENGINE_add(e) == 1 &&
            ENGINE_register_pkey_meths(e) == 1;
  ENGINE_free(e);  // the reference of ENGINE_new; the ENGINE list holds its own
  return ok;
}
#endif

}  // namespace

bool UseBuiltinKeyMethods() {
#ifdef OPENSSL_NO_ENGINE
  return false;
#else
  static std::once_flag once;
  static bool installed = false;
  std::call_once(once, [] { installed = Install(); });
  return installed;
#endif
}

}  // namespace originwatch::tls
