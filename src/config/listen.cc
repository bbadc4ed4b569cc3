// ParseListenAddress (config.h): the [agent] listen address of the HTTP endpoint.
#include <arpa/inet.h>

#include <charconv>

#include "originwatch/config.h"

namespace originwatch {

bool ParseListenAddress(std::string_view text, std::string* host, uint16_t* port, std::string* error) {
  std::string_view h;
  std::string_view p;
  bool v6 = false;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *error = "expected \"[IPv6]:port\", like \"[::1]:9464\"";
      return false;
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
    v6 = true;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      *error = "expected \"address:port\", like \"127.0.0.1:9464\"";
      return false;
    }
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) {
      *error = "an IPv6 address needs brackets, like \"[::1]:9464\"";
      return false;
    }
  }
  unsigned char buf[16];
  const std::string hs(h);
  if (inet_pton(v6 ? AF_INET6 : AF_INET, hs.c_str(), buf) != 1) {
    *error = v6 ? "\"" + hs + "\" is not an IPv6 address"
                : "\"" + hs + "\" is not an IPv4 address (names are not allowed)";
    return false;
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (p.empty() || ec != std::errc() || end != p.data() + p.size() || value < 1 || value > 65535) {
    *error = "the port must be a number from 1 to 65535";
    return false;
  }
  *host = hs;
  *port = static_cast<uint16_t>(value);
  return true;
}

}  // namespace originwatch
