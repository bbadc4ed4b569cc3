// nginx as a producer of ProxyRoutes: the directive tree of conf_parser.h
// walked http -> server -> location (nested, and `if`/`limit_except` inside a
// location), with the proxy_ssl_* settings merged the way nginx merges them: a
// setting anywhere in a block applies to the whole block (order does not
// matter) and to the blocks inside it unless they set it again.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "nginx/conf_parser.h"
#include "originwatch/nginx.h"

namespace originwatch {
namespace {

using nginx::Directive;

struct Setting {
  std::vector<std::string> args;
  std::string where;
};

// The proxy_ssl_* settings in effect at one level.
struct Inherited {
  std::map<std::string, Setting> s;  // directive name -> setting
};

const std::array<const char*, 7> kTlsDirectives = {
    "proxy_ssl_server_name", "proxy_ssl_name",    "proxy_ssl_protocols",
    "proxy_ssl_ciphers",     "proxy_ssl_verify",  "proxy_ssl_trusted_certificate",
    "proxy_ssl_verify_depth"};

Inherited Merge(const Inherited& outer, const std::vector<Directive>& block) {
  Inherited in = outer;
  for (const Directive& d : block) {
    for (const char* name : kTlsDirectives) {
      if (d.name == name) in.s[d.name] = Setting{d.args, d.Where()};
    }
  }
  return in;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

// "host[:port]" or "[v6][:port]" -> host, port. False when the port is bad.
bool SplitHostPort(const std::string& hp, uint16_t default_port, std::string* host, uint16_t* port,
                   bool* port_given) {
  *port = default_port;
  *port_given = false;
  std::string rest;
  if (!hp.empty() && hp[0] == '[') {
    size_t close = hp.find(']');
    if (close == std::string::npos) return false;
    *host = hp.substr(1, close - 1);
    rest = hp.substr(close + 1);
  } else {
    size_t colon = hp.rfind(':');
    if (colon == std::string::npos) {
      *host = hp;
    } else {
      *host = hp.substr(0, colon);
      rest = hp.substr(colon);
    }
  }
  if (rest.empty()) return !host->empty();
  if (rest[0] != ':' || rest.size() < 2) return false;
  long p = 0;
  for (size_t i = 1; i < rest.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(rest[i]))) return false;
    p = p * 10 + (rest[i] - '0');
    if (p > 65535) return false;
  }
  if (p == 0) return false;
  *port = static_cast<uint16_t>(p);
  *port_given = true;
  return !host->empty();
}

struct UpstreamBlock {
  std::vector<UpstreamServer> servers;
  std::vector<std::string> skipped;  // "unix:/x (file:line)"
};

struct Walker {
  std::string version;
  std::string prefix;
  std::map<std::string, UpstreamBlock> upstreams;  // lower-cased NAME
  std::vector<ProxyRoute> routes;

  void CollectUpstreams(const std::vector<Directive>& http) {
    for (const Directive& d : http) {
      if (d.name != "upstream" || !d.has_block || d.args.size() != 1) continue;
      UpstreamBlock& u = upstreams[Lower(d.args[0])];
      for (const Directive& s : d.block) {
        if (s.name != "server" || s.args.empty()) continue;
        if (std::find(s.args.begin() + 1, s.args.end(), "down") != s.args.end()) continue;
        if (s.args[0].rfind("unix:", 0) == 0) {
          u.skipped.push_back(s.args[0] + " (" + s.Where() + ")");
          continue;
        }
        UpstreamServer us;
        bool given = false;
        // nginx's upstream `server` lines default to port 80, also for https.
        if (!SplitHostPort(s.args[0], 80, &us.host, &us.port, &given)) continue;
        us.where = SourceLocation{s.file, s.line};
        u.servers.push_back(us);
      }
    }
  }

  void Server(const Directive& server, const Inherited& http_level) {
    std::vector<std::string> listen, names;
    for (const Directive& d : server.block) {
      if (d.name == "listen") listen.push_back(Join(d.args, " "));
      if (d.name == "server_name") names.insert(names.end(), d.args.begin(), d.args.end());
    }
    if (listen.empty()) listen.push_back("*:80");
    Inherited in = Merge(http_level, server.block);
    Block(server.block, in, listen, names, "");
  }

  void Block(const std::vector<Directive>& block, const Inherited& in,
             const std::vector<std::string>& listen, const std::vector<std::string>& names,
             const std::string& location) {
    for (const Directive& d : block) {
      if (d.has_block && (d.name == "location" || d.name == "if" || d.name == "limit_except")) {
        std::string loc = d.name == "location" ? Join(d.args, " ") : location;
        Block(d.block, Merge(in, d.block), listen, names, loc);
        continue;
      }
      if (d.name == "proxy_pass" && d.args.size() == 1) Route(d, in, listen, names, location);
    }
  }

  void Route(const Directive& d, const Inherited& in, const std::vector<std::string>& listen,
             const std::vector<std::string>& names, const std::string& location) {
    const std::string& pass = d.args[0];
    ProxyRoute r;
    r.where = SourceLocation{d.file, d.line};
    r.listen = listen;
    r.server_name = names;
    r.location = location;
    r.proxy_pass = pass;
    const std::string lower = Lower(pass);
    const bool https = lower.rfind("https://", 0) == 0;
    if (!https) {
      if (lower.rfind("http://", 0) == 0) return;  // plain HTTP: no TLS to check
      if (!nginx::HasVariable(pass.substr(0, pass.find("://")))) return;
      r.not_checked_reason = "the scheme comes from a variable; known only per request";
      routes.push_back(std::move(r));
      return;
    }
    r.tls = true;
    std::string rest = pass.substr(8);
    std::string hostport = rest.substr(0, rest.find('/'));
    if (nginx::HasVariable(hostport)) {
      r.upstream_host = hostport;
      r.not_checked_reason = "proxy_pass is built from variables (" + hostport +
                             "): the upstream is known only per request";
      routes.push_back(std::move(r));
      return;
    }
    bool port_given = false;
    if (!SplitHostPort(hostport, 443, &r.upstream_host, &r.upstream_port, &port_given)) {
      r.not_checked_reason = "cannot read host and port from \"" + hostport + "\"";
      routes.push_back(std::move(r));
      return;
    }
    auto up = upstreams.find(Lower(r.upstream_host));
    if (up != upstreams.end() && !port_given) {
      r.upstream_block = r.upstream_host;
      r.servers = up->second.servers;
      if (r.servers.empty()) {
        r.not_checked_reason = "upstream " + r.upstream_block + " has no TCP server to check" +
                               (up->second.skipped.empty() ? "" : ": " + Join(up->second.skipped, ", "));
      }
    } else {
      r.servers.push_back(UpstreamServer{r.upstream_host, r.upstream_port, r.where});
    }
    Settings(in, &r);
    routes.push_back(std::move(r));
  }

  void Settings(const Inherited& in, ProxyRoute* r) {
    ProxyTls& t = r->tls_settings;
    auto get = [&](const char* name) -> const Setting* {
      auto it = in.s.find(name);
      return it == in.s.end() || it->second.args.empty() ? nullptr : &it->second;
    };
    if (const Setting* s = get("proxy_ssl_server_name")) {
      t.send_sni = Lower(s->args[0]) == "on";
      t.origin_of_sni = s->where;
    }
    // proxy_ssl_name defaults to $proxy_host: the proxy_pass host (an upstream
    // block's NAME), without the port.
    t.sni_name = r->upstream_host;
    t.sni_name_is_upstream_block = !r->upstream_block.empty();
    if (const Setting* s = get("proxy_ssl_name")) {
      std::string name = s->args[0];
      std::string concrete;
      for (const std::string& n : r->server_name) {
        if (!n.empty() && n.find_first_of("*~") == std::string::npos && !nginx::HasVariable(n)) {
          concrete = n;
          break;
        }
      }
      for (const char* var : {"$host", "$http_host", "$server_name"}) {
        if (name == var && !concrete.empty()) name = concrete;
      }
      if (name == "$proxy_host") name = r->upstream_host;
      if (nginx::HasVariable(name)) {
        r->not_checked_reason = "proxy_ssl_name " + s->args[0] + " (" + s->where +
                                ") is known only per request";
      }
      std::string h;
      uint16_t p = 0;
      bool given = false;
      if (SplitHostPort(name, 443, &h, &p, &given)) name = h;
      t.sni_name = name;
      t.sni_name_is_upstream_block = false;
    }
    if (const Setting* s = get("proxy_ssl_protocols")) {
      t.protocols = s->args;
      t.origin_of_protocols = s->where;
    } else {
      t.protocols = NginxDefaultProtocols(version);
    }
    if (const Setting* s = get("proxy_ssl_ciphers")) {
      t.ciphers = s->args[0];
      t.origin_of_ciphers = s->where;
    }
    if (const Setting* s = get("proxy_ssl_verify")) t.verify = Lower(s->args[0]) == "on";
    if (const Setting* s = get("proxy_ssl_trusted_certificate")) {
      t.trusted_certificate = s->args[0];
      if (!t.trusted_certificate.empty() && t.trusted_certificate[0] != '/') {
        t.trusted_certificate = prefix + "/" + t.trusted_certificate;
      }
    }
    if (const Setting* s = get("proxy_ssl_verify_depth")) t.verify_depth = std::atoi(s->args[0].c_str());
  }
};

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// "1.22.1" -> {1, 22, 1}
std::array<int, 3> ParseVersion(const std::string& v) {
  std::array<int, 3> out{0, 0, 0};
  std::istringstream in(v);
  std::string part;
  for (int i = 0; i < 3 && std::getline(in, part, '.'); ++i) out[i] = std::atoi(part.c_str());
  return out;
}

}  // namespace

std::vector<std::string> NginxDefaultProtocols(const std::string& version) {
  // nginx 1.23.4 changelog: "now TLSv1.3 protocol is enabled by default".
  if (ParseVersion(version) < std::array<int, 3>{1, 23, 4}) return {"TLSv1", "TLSv1.1", "TLSv1.2"};
  return {"TLSv1.2", "TLSv1.3"};
}

std::string InstalledNginxVersion() {
  // `nginx -v` prints "nginx version: nginx/1.22.1" on stderr.
  for (const char* bin : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"}) {
    if (access(bin, X_OK) != 0) continue;
    std::string cmd = std::string(bin) + " -v 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) continue;
    char buf[256];
    std::string out;
    while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
    pclose(p);
    size_t at = out.find("nginx/");
    if (at == std::string::npos) continue;
    std::string v;
    for (size_t i = at + 6; i < out.size() && (std::isdigit(static_cast<unsigned char>(out[i])) || out[i] == '.'); ++i) {
      v += out[i];
    }
    if (!v.empty()) return v;
  }
  return "";
}

Result<ProxyConfig> LoadNginxRoutes(const NginxLoadOptions& options) {
  std::vector<Directive> tree;
  std::string main_file = options.path;
  std::string prefix = options.prefix;
  if (options.path == "-") {
    auto dump = nginx::DumpSource::FromDump(options.dump_text);
    if (!dump.ok()) return dump.status();
    main_file = dump.value().main_file();
    if (prefix.empty()) prefix = DirOf(main_file);
    auto t = nginx::LoadConfigTree(dump.value(), main_file, prefix);
    if (!t.ok()) return t.status();
    tree = std::move(t.value());
  } else {
    if (prefix.empty()) prefix = DirOf(main_file);
    nginx::DiskSource disk;
    auto t = nginx::LoadConfigTree(disk, main_file, prefix);
    if (!t.ok()) return t.status();
    tree = std::move(t.value());
  }
  Walker w;
  w.version = options.version;
  w.prefix = prefix;
  for (const Directive& d : tree) {
    if (d.name != "http" || !d.has_block) continue;
    w.CollectUpstreams(d.block);
    Inherited http_level = Merge(Inherited{}, d.block);
    for (const Directive& s : d.block) {
      if (s.name == "server" && s.has_block) w.Server(s, http_level);
    }
  }
  ProxyConfig cfg;
  cfg.version = options.version;
  cfg.routes = std::move(w.routes);
  return cfg;
}

}  // namespace originwatch
