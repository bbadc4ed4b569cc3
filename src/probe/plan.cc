#include "originwatch/plan.h"

#include <arpa/inet.h>

namespace originwatch {

bool IsIpLiteral(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::vector<ProbeSpec> ExpandMatrix(const VariantMatrix& m) {
  std::vector<ProbeSpec> out;
  uint64_t id = 0;
  for (const std::string& addr : m.addresses) {
    for (const auto& sni : m.snis) {
      for (const std::string& profile : m.profiles) {
        ProbeSpec s;
        s.origin = m.origin;
        s.host = m.host;
        s.address = addr;
        s.port = m.port;
        s.sni = sni;
        s.profile = profile;
        s.expect_names = m.expect_names;
        s.connect_timeout_ms = m.connect_timeout_ms;
        s.timeout_ms = m.timeout_ms;
        s.http = m.http;
        s.id = id++;
        out.push_back(std::move(s));
      }
    }
  }
  return out;
}

VariantMatrix DefaultMatrix(const std::string& host, uint16_t port,
                            std::vector<std::string> addresses) {
  VariantMatrix m;
  m.origin = host;
  m.host = host;
  m.port = port;
  m.addresses = std::move(addresses);
  bool literal = IsIpLiteral(host);
  // RFC 6066 forbids IP literals in SNI: for an IP, probe without SNI only.
  if (!literal) m.snis.push_back(host);
  m.snis.push_back(std::nullopt);
  for (const ClientProfile& p : BuiltinProfiles()) m.profiles.push_back(p.name);
  m.expect_names.push_back(host);
  return m;
}

}  // namespace originwatch
