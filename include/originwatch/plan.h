// The plan: which probes describe one origin. An origin is probed on every
// address its name resolves to, through a matrix of variants: with SNI, without
// SNI, with other names, with several client profiles.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "originwatch/probe.h"
#include "originwatch/status.h"

namespace originwatch {

struct VariantMatrix {
  std::string origin;                         // name for reports
  std::string host;                           // name or IP literal
  uint16_t port = 443;
  std::vector<std::string> addresses;         // numeric; each gets every variant
  std::vector<std::optional<std::string>> snis;  // nullopt = no SNI
  std::vector<std::string> profiles;          // profile names
  std::vector<std::string> expect_names;      // names the certificate must cover
  int connect_timeout_ms = 5000;
  int timeout_ms = 10000;
  // An HTTP request on every variant (probe.h HttpCheck); nullopt = none.
  // http->plain: no TLS at all, so snis should be {nullopt} and profiles one.
  std::optional<HttpCheck> http;
};

// addresses × snis × profiles, in that nesting order (stable: reports and the
// store rely on it). ids are assigned 0..n-1.
std::vector<ProbeSpec> ExpandMatrix(const VariantMatrix& m);

// The default matrix of `originwatch probe HOST`: SNI = host (when host is a
// name) and no SNI, each with every built-in profile; expected names = host.
VariantMatrix DefaultMatrix(const std::string& host, uint16_t port,
                            std::vector<std::string> addresses);

// True for an IPv4 or IPv6 literal.
bool IsIpLiteral(const std::string& s);

// Names are resolved by the asynchronous resolver (resolver.h), never here.

}  // namespace originwatch
