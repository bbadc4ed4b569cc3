// ParseOriginUrl (url.h).
#include "originwatch/url.h"

#include <arpa/inet.h>

#include <cctype>

namespace originwatch {
namespace {

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

bool IsIpv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

}  // namespace

std::string OriginUrl::HostHeader() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) h += ":" + std::to_string(port);
  return h;
}

Result<OriginUrl> ParseOriginUrl(std::string_view text) {
  OriginUrl u;
  std::string_view rest;
  auto starts = [&](std::string_view p) {
    if (text.size() < p.size()) return false;
    for (size_t i = 0; i < p.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(text[i])) != p[i]) return false;
    }
    return true;
  };
  if (starts("https://")) {
    rest = text.substr(8);
  } else if (starts("http://")) {
    u.tls = false;
    u.port = 80;
    rest = text.substr(7);
  } else {
    return Status::InvalidArgument("the URL \"" + std::string(text.substr(0, 80)) +
                                   "\" must start with http:// or https://");
  }
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return Status::InvalidArgument("the URL contains a space or a control character");
  }
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos)
    return Status::InvalidArgument("the URL must not carry a user name or password");
  if (!tail.empty() && tail.front() == '#') tail = {};
  if (size_t hash = tail.find('#'); hash != std::string_view::npos) tail = tail.substr(0, hash);
  if (tail.empty()) {
    u.path = "/";
  } else if (tail.front() == '?') {
    u.path = "/" + std::string(tail);
  } else {
    u.path = std::string(tail);
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::InvalidArgument("the URL's IPv6 address has no closing ']'");
    u.host = std::string(authority.substr(1, close - 1));
    if (!IsIpv6(u.host)) return Status::InvalidArgument("\"" + u.host + "\" in brackets is not an IPv6 address");
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Status::InvalidArgument("unexpected text after the URL's IPv6 address");
      port_text = after.substr(1);
      u.port_given = true;
    }
  } else {
    size_t colon = authority.rfind(':');
    std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      u.port_given = true;
    }
    for (char c : host) {
      if (!IsNameChar(c)) return Status::InvalidArgument("the URL's host \"" + std::string(host.substr(0, 80)) +
                                                         "\" is not a DNS name or an IP address");
    }
    u.host.reserve(host.size());
    for (char c : host) u.host.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (u.host.empty()) return Status::InvalidArgument("the URL has no host");
  if (u.port_given) {
    if (port_text.empty() || port_text.size() > 5)
      return Status::InvalidArgument("the URL's port \"" + std::string(port_text.substr(0, 8)) + "\" is not in 1-65535");
    unsigned p = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return Status::InvalidArgument("the URL's port \"" + std::string(port_text) + "\" is not a number");
      p = p * 10 + static_cast<unsigned>(c - '0');
    }
    if (p == 0 || p > 65535) return Status::InvalidArgument("the URL's port " + std::to_string(p) + " is not in 1-65535");
    u.port = static_cast<uint16_t>(p);
  }
  return u;
}

}  // namespace originwatch
