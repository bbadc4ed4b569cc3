// The URLs an origin or `originwatch probe` may name: http:// and https://
// with a host (a DNS name, an IPv4 literal or a bracketed IPv6 literal), an
// optional port and an optional path (with its query). No user info, no
// fragment. Pure values, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "originwatch/status.h"

namespace originwatch {

struct OriginUrl {
  bool tls = true;        // https:// (false: http://)
  std::string host;       // lower-cased name, or the IP literal without brackets
  uint16_t port = 443;    // the URL's port, else 443 for https and 80 for http
  bool port_given = false;
  std::string path = "/";  // origin-form target: starts with '/', query kept
  // "host[:port]" as the Host header names it (brackets for IPv6; the port
  // only when it is not the scheme's default).
  std::string HostHeader() const;
};

// Errors say what is wrong with the text ("the URL must start with http:// or
// https://", "the port 99999 is not in 1-65535", ...).
Result<OriginUrl> ParseOriginUrl(std::string_view text);

}  // namespace originwatch
