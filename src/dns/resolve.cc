// A plain getaddrinfo resolver, called off the engine thread. The engine only
// ever sees numeric addresses.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "originwatch/plan.h"

namespace originwatch {

bool IsIpLiteral(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

Result<std::vector<std::string>> ResolveAddresses(const std::string& host) {
  if (IsIpLiteral(host)) return std::vector<std::string>{host};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    return Status::NotFound("cannot resolve \"" + host + "\": " + gai_strerror(rc));
  }
  std::vector<std::string> v4, v6;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    char buf[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, buf, sizeof(buf), nullptr, 0, NI_NUMERICHOST) != 0)
      continue;
    auto& list = a->ai_family == AF_INET ? v4 : v6;
    if (std::find(list.begin(), list.end(), buf) == list.end()) list.emplace_back(buf);
  }
  freeaddrinfo(res);
  v4.insert(v4.end(), v6.begin(), v6.end());
  if (v4.empty()) return Status::NotFound("\"" + host + "\" has no A or AAAA address");
  return v4;
}

}  // namespace originwatch
