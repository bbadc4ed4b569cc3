// The HTTP parts of an [[origin]] (see toml_reader.h): `url`, the `http`
// table, `upstream`, and what an http:// origin rejects.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/names.h"
#include "config/toml_reader.h"
#include "originwatch/url.h"

namespace originwatch::config_internal {
namespace {

constexpr int kMinStatus = 100;
constexpr int kMaxStatus = 599;

// "200" or "200-299"; nullopt when the text is neither or out of 100-599.
std::optional<std::pair<int, int>> StatusRange(std::string_view s) {
  auto number = [](std::string_view d) -> std::optional<int> {
    if (d.size() != 3 ||
        !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    const int v = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    if (v < kMinStatus || v > kMaxStatus) return std::nullopt;
    return v;
  };
  const size_t dash = s.find('-');
  if (dash == std::string_view::npos) {
    auto v = number(s);
    if (!v) return std::nullopt;
    return std::pair(*v, *v);
  }
  auto lo = number(s.substr(0, dash));
  auto hi = number(s.substr(dash + 1));
  if (!lo || !hi || *lo > *hi) return std::nullopt;
  return std::pair(*lo, *hi);
}

// A Host header value: printable, no spaces, no separators that would end
// the header line.
bool IsHostHeader(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c > ' ' && c < 0x7f && c != '/' && c != '?' && c != '#' && c != '@';
  });
}

}  // namespace

bool Parser::ParseOriginUrlKey(const toml::table& t, const std::string& p, OriginConfig& o) {
  const toml::node* n = t.get("url");
  if (n == nullptr) return true;
  bool ok = true;
  for (const char* key : {"host", "port"}) {
    if (const toml::node* other = t.get(key)) {
      Error(*other,
            p + "\"url\" already names the host and port: remove " + Quoted(key) + " (or \"url\")");
      ok = false;
    }
  }
  if (!ReadNonEmptyString(*n, "url", p, &o.url)) return false;
  auto u = ParseOriginUrl(o.url);
  if (!u.ok()) {
    Error(*n, p + u.status().message());
    return false;
  }
  if (!IsDnsName(u->host) && !IsIpLiteral(u->host)) {
    Error(*n, p + "bad url " + Quoted(o.url) + ": the host " + Quoted(u->host) +
                  " is not a DNS name or an IP address");
    return false;
  }
  o.host = u->host;
  o.port = u->port;
  HttpCheck check;
  check.plain = !u->tls;
  check.path = u->path;
  // The Host header names the port when it is not the scheme's default.
  if (u->port_given && u->port != (u->tls ? 443 : 80)) check.host = u->HostHeader();
  o.http = std::move(check);
  return ok;
}

bool Parser::ParseOriginHttp(const toml::table& t, const std::string& p, OriginConfig& o) {
  bool ok = true;
  if (const toml::node* n = t.get("http")) {
    const toml::table* ht = n->as_table();
    if (ht == nullptr) {
      Error(*n, p + "\"http\" must be a table (http = { path = \"/\" }), not " + TypeName(*n));
      return false;
    }
    const std::string where = p.substr(0, p.size() > 2 ? p.size() - 2 : 0) + " [http]";
    const size_t before = errors_.size();
    CheckKeys(*ht, kHttpKeys, where);
    const std::string hp = where + ": ";
    HttpCheck check = o.http.value_or(HttpCheck{});
    if (const toml::node* pn = ht->get("path")) {
      std::string path;
      if (ReadNonEmptyString(*pn, "path", hp, &path)) {
        if (!o.url.empty() && check.path != "/" && path != check.path) {
          Error(*pn, hp + "\"path\" " + Quoted(path) + " contradicts the path of \"url\" " +
                         Quoted(check.path) + ": give it in one place");
        } else if (path.front() != '/' || std::any_of(path.begin(), path.end(), [](char c) {
                     return c <= ' ' || c >= 0x7f || c == '#';
                   })) {
          Error(*pn, hp + "invalid path " + Quoted(path) +
                         ": it must start with '/' and hold no spaces, control characters or '#'");
        } else {
          check.path = path;
        }
      }
    }
    if (const toml::node* hn = ht->get("host")) {
      std::string host;
      if (ReadNonEmptyString(*hn, "host", hp, &host)) {
        if (IsHostHeader(host)) {
          check.host = host;
        } else {
          Error(*hn, hp + "invalid host " + Quoted(host) +
                         ": the Host header takes a name or address with an optional :port");
        }
      }
    }
    if (const toml::node* mn = ht->get("method")) {
      std::string method;
      if (ReadString(*mn, "method", hp, &method)) {
        if (Contains(kHttpMethods, method)) {
          check.method = method;
        } else {
          Error(*mn, hp + "\"method\" must be " + QuotedChoices(kHttpMethods) + ", not " +
                         Quoted(method));
        }
      }
    }
    if (const toml::node* en = ht->get("expect_status")) {
      const toml::array* a = en->as_array();
      if (a == nullptr) {
        Error(*en, hp +
                       "\"expect_status\" must be an array like [200, 301] or [\"200-299\"], "
                       "not " +
                       TypeName(*en));
      } else if (a->empty()) {
        Error(*en, hp + "\"expect_status\" must not be empty (leave it out for 200-399)");
      } else {
        for (const toml::node& e : *a) {
          if (const auto* i = e.as_integer()) {
            const int64_t v = i->get();
            if (v < kMinStatus || v > kMaxStatus) {
              Error(e, hp + "expect_status " + std::to_string(v) + " is not in 100-599");
            } else {
              check.expect_status.emplace_back(static_cast<int>(v), static_cast<int>(v));
            }
          } else if (const auto* s = e.as_string()) {
            if (auto r = StatusRange(s->get())) {
              check.expect_status.push_back(*r);
            } else {
              Error(e, hp + "invalid expect_status " + Quoted(s->get()) +
                           ": use a status (200) or a range (\"200-299\") within 100-599");
            }
          } else {
            Error(e, hp + "expect_status entries are integers or \"low-high\" strings, not " +
                         TypeName(e));
          }
        }
      }
    }
    ok = errors_.size() == before;
    if (ok) o.http = std::move(check);
  }

  if (const toml::node* n = t.get("upstream")) {
    std::string up;
    if (!ReadNonEmptyString(*n, "upstream", p, &up)) {
      ok = false;
    } else if (!o.name.empty() && up == o.name) {
      Error(*n, p + "\"upstream\" names the origin itself: name the origin this one proxies to");
      ok = false;
    } else {
      o.upstream = up;
      o.upstream_pos = PosOf(n->source());
    }
  }

  if (o.http && o.http->plain) {
    // http://: no TLS, so nothing to send as SNI, no client profile, no
    // certificate to check.
    for (const char* key : {"sni", "profiles", "expect_names"}) {
      if (const toml::node* k = t.get(key)) {
        Error(*k, p + Quoted(key) +
                      " cannot be used with an http:// url: plain HTTP has no TLS "
                      "(use https:// to check the handshake too)");
        ok = false;
      }
    }
    o.sni = {std::nullopt};
    o.profiles = {"modern"};
    o.expect_names.clear();
  }
  return ok;
}

void Parser::CheckUpstreams(const AgentConfig& cfg) {
  for (const OriginConfig& o : cfg.origins) {
    if (o.upstream.empty() || origin_names_.count(o.upstream) != 0) continue;
    std::vector<std::string_view> known;
    for (const auto& [name, line] : origin_names_) {
      if (name != o.name) known.push_back(name);
    }
    std::sort(known.begin(), known.end());
    errors_.push_back({file_, o.upstream_pos.line, o.upstream_pos.column,
                       "origin " + Quoted(o.name) + ": \"upstream\" " + Quoted(o.upstream) +
                           " is not a configured origin " + Suggest(o.upstream, known)});
  }
}

}  // namespace originwatch::config_internal
