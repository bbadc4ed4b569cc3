// Webhook secrets and Alertmanager bearer tokens, resolved by the rule of the
// sender (ReadWebhookSecret and the bearer token's reader in src/webhook,
// documented in webhook.h): a *_env key must name a set, non-empty variable;
// otherwise the *_file must be readable and, without its trailing newlines,
// not empty. A Standard Webhooks secret of the form whsec_<base64> must hold
// valid base64. This file keeps the rule instead of calling the sender so that
// preflight does not pull in libcurl and the outbox; the messages say the
// same things.
#include <openssl/evp.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "preflight/checks.h"

namespace originwatch::preflight_internal {
namespace {

struct SecretSource {
  std::string who;        // "webhook \"ops\": "
  std::string env;        // variable name, "" = none
  std::string env_key;    // "secret_env"
  SourcePos env_pos;
  std::string file;       // path, "" = none
  std::string file_key;   // "secret_file"
  SourcePos file_pos;
};

// The value, or nullopt when none is configured or it cannot be had (then an
// error is added).
std::optional<std::string> ReadSecret(const AgentConfig& cfg, const SecretSource& s,
                                      std::vector<ConfigError>* errors) {
  if (!s.env.empty()) {
    const char* v = std::getenv(s.env.c_str());
    if (v == nullptr) {
      errors->push_back(At(cfg, s.env_pos,
                           s.who + "environment variable " + s.env + " (" + s.env_key +
                               ") is not set in this environment"));
      return std::nullopt;
    }
    if (*v == '\0') {
      errors->push_back(At(cfg, s.env_pos, s.who + "environment variable " + s.env + " (" + s.env_key + ") is empty"));
      return std::nullopt;
    }
    return std::string(v);  // the sender never looks at the file then
  }
  if (s.file.empty()) return std::nullopt;
  std::ifstream in(s.file, std::ios::binary);
  if (!in) {
    const int err = errno;
    errors->push_back(At(cfg, s.file_pos,
                         s.who + "cannot read " + s.file_key + " \"" + s.file + "\": " + std::strerror(err)));
    return std::nullopt;
  }
  std::ostringstream content;
  content << in.rdbuf();
  std::string v = content.str();
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  if (v.empty()) {
    errors->push_back(At(cfg, s.file_pos, s.who + s.file_key + " \"" + s.file + "\" is empty"));
    return std::nullopt;
  }
  return v;
}

// Standard base64 with padding, as the sender decodes a whsec_ key.
bool IsBase64(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0) return false;
  std::string out(s.size() / 4 * 3 + 1, '\0');
  return EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                         reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size())) >= 0;
}

}  // namespace

void CheckWebhookSecrets(const AgentConfig& cfg, std::vector<ConfigError>* errors) {
  for (const WebhookConfig& w : cfg.webhooks) {
    const SourcePos header{w.line, w.column};
    SecretSource s;
    s.who = "webhook \"" + w.name + "\": ";
    s.env = w.secret_env;
    s.env_key = "secret_env";
    s.env_pos = w.secret_env_pos.line > 0 ? w.secret_env_pos : header;
    s.file = w.secret_file;
    s.file_key = "secret_file";
    s.file_pos = w.secret_file_pos.line > 0 ? w.secret_file_pos : header;
    std::optional<std::string> v = ReadSecret(cfg, s, errors);
    if (v && w.signing == "standard-webhooks" && std::string_view(*v).starts_with("whsec_") &&
        !IsBase64(std::string_view(*v).substr(6))) {
      errors->push_back(At(cfg, w.secret_env.empty() ? s.file_pos : s.env_pos,
                           s.who + "the secret starts with \"whsec_\" but the rest is not valid base64 "
                                   "(Standard Webhooks secrets are whsec_<base64 key>)"));
    }
  }
  for (const AlertmanagerConfig& a : cfg.alertmanagers) {
    const SourcePos header{a.line, a.column};
    SecretSource s;
    s.who = "alertmanager \"" + a.name + "\": ";
    s.env = a.bearer_token_env;
    s.env_key = "bearer_token_env";
    s.env_pos = header;
    s.file = a.bearer_token_file;
    s.file_key = "bearer_token_file";
    s.file_pos = header;
    ReadSecret(cfg, s, errors);
  }
}

}  // namespace originwatch::preflight_internal
