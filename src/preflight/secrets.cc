// Webhook secrets, resolved by the rule of the webhook sender
// (ReadWebhookSecret in src/webhook/payload.cc, documented in webhook.h):
// secret_env must name a set, non-empty variable; otherwise secret_file must
// be readable and, without its trailing newlines, not empty. This file keeps
// the rule instead of calling the sender so that preflight does not pull in
// libcurl and the outbox; the messages say the same things.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "preflight/checks.h"

namespace originwatch::preflight_internal {

void CheckWebhookSecrets(const AgentConfig& cfg, std::vector<ConfigError>* errors) {
  for (const WebhookConfig& w : cfg.webhooks) {
    const std::string who = "webhook \"" + w.name + "\": ";
    const SourcePos header{w.line, w.column};
    if (!w.secret_env.empty()) {
      const SourcePos pos = w.secret_env_pos.line > 0 ? w.secret_env_pos : header;
      const char* v = std::getenv(w.secret_env.c_str());
      if (v == nullptr) {
        errors->push_back(At(cfg, pos,
                             who + "environment variable " + w.secret_env +
                                 " (secret_env) is not set in this environment"));
      } else if (*v == '\0') {
        errors->push_back(
            At(cfg, pos, who + "environment variable " + w.secret_env + " (secret_env) is empty"));
      }
      continue;  // the sender never looks at secret_file then
    }
    if (w.secret_file.empty()) continue;
    const SourcePos pos = w.secret_file_pos.line > 0 ? w.secret_file_pos : header;
    std::ifstream in(w.secret_file, std::ios::binary);
    if (!in) {
      const int err = errno;
      errors->push_back(
          At(cfg, pos,
             who + "cannot read secret_file \"" + w.secret_file + "\": " + std::strerror(err)));
      continue;
    }
    std::ostringstream content;
    content << in.rdbuf();
    std::string s = content.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (s.empty()) {
      errors->push_back(At(cfg, pos, who + "secret_file \"" + w.secret_file + "\" is empty"));
    }
  }
}

}  // namespace originwatch::preflight_internal
