// A secret from an environment variable or a file, by the rule webhook.h
// documents for webhook secrets and Alertmanager bearer tokens: the variable,
// when named, must be set and non-empty; otherwise the file must be readable
// and, without its trailing newlines, not empty. "" when neither is named.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "originwatch/status.h"

namespace originwatch::webhook_internal {

// who: "webhook \"ops\""; env_key / file_key: the config keys, for messages.
inline Result<std::string> ReadSecretSource(const std::string& who, const std::string& env,
                                            std::string_view env_key, const std::string& file,
                                            std::string_view file_key) {
  if (!env.empty()) {
    const char* v = std::getenv(env.c_str());
    if (v == nullptr || *v == '\0') {
      return Status::InvalidArgument(who + ": environment variable " + env + " (" + std::string(env_key) +
                                     ") is " + (v ? "empty" : "not set"));
    }
    return std::string(v);
  }
  if (file.empty()) return std::string();
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int err = errno;
    return Status::IoError(who + ": cannot read " + std::string(file_key) + " \"" + file + "\": " +
                           std::strerror(err));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return Status::InvalidArgument(who + ": " + std::string(file_key) + " \"" + file + "\" is empty");
  return s;
}

}  // namespace originwatch::webhook_internal
