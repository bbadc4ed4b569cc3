// Reverse proxies in front of origins: what a proxy's configuration makes it
// do when it connects to its upstreams, and whether those handshakes will work.
//
// Two layers, so that another proxy (HAProxy) can follow nginx:
//  - ProxyRoute, the generic model: one front (listen / server_name / location)
//    forwarding to one upstream target with the TLS client settings the proxy
//    will use. A producer (LoadNginxRoutes) reads a proxy's configuration into
//    routes with every default of that proxy's version already applied.
//  - CheckRoutes, the consumer: probes each upstream address exactly as the
//    route describes with the Engine (include/originwatch/engine.h), explains a
//    failure with Diagnose (include/originwatch/diagnose.h) and proves the fix
//    by probing again with it applied.
//
// Threading: every function may be called from any thread; CheckRoutes creates
// its own engines and blocks until every probe has ended (each has a deadline).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "originwatch/diagnose.h"
#include "originwatch/status.h"

namespace originwatch {

// Where a directive came from.
struct SourceLocation {
  std::string file;
  int line = 0;
};

// The TLS client settings a proxy uses towards one upstream, defaults applied.
struct ProxyTls {
  bool send_sni = false;           // nginx: proxy_ssl_server_name
  std::string sni_name;            // the name sent (and verified) when send_sni; nginx: proxy_ssl_name
  bool sni_name_is_upstream_block = false;  // sni_name is an upstream block's NAME (by default)
  std::vector<std::string> protocols;  // "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"
  std::string ciphers = "DEFAULT";     // OpenSSL cipher list, TLS <= 1.2
  bool verify = false;
  std::string trusted_certificate;     // CA file used when verify ("" = none configured)
  int verify_depth = 1;
  // Where each explicit setting was written, for the report ("" = a default).
  std::string origin_of_sni;      // "file:line" of proxy_ssl_server_name, "" = default
  std::string origin_of_protocols;
  std::string origin_of_ciphers;
};

struct UpstreamServer {
  std::string host;   // name or IP literal, as written
  uint16_t port = 443;
  SourceLocation where;
};

// One front forwarding to one upstream.
struct ProxyRoute {
  SourceLocation where;                 // of the proxy_pass directive
  std::vector<std::string> listen;      // "127.0.0.1:8080", "443 ssl", ...
  std::vector<std::string> server_name;
  std::string location;                 // "/promo", "= /x", "~ \.php$"; "" = server level
  std::string proxy_pass;               // as written
  bool tls = false;                     // https:// upstream
  std::string upstream_host;            // host of proxy_pass (an upstream block's NAME or a name/IP)
  uint16_t upstream_port = 443;
  std::string upstream_block;           // NAME when proxy_pass names an upstream block
  std::vector<UpstreamServer> servers;  // the block's servers, or {host:port}
  ProxyTls tls_settings;
  // Non-empty: this route cannot be checked, and why (variables in proxy_pass ...).
  std::string not_checked_reason;
};

struct ProxyConfig {
  std::string kind = "nginx";
  std::string version;             // "1.22.1"
  std::string version_source;      // "nginx -v", "--nginx-version"
  std::vector<ProxyRoute> routes;  // in file order
};

struct NginxLoadOptions {
  std::string path;                // main file, or "-" for `nginx -T` output on stdin
  std::string prefix;              // relative includes resolve here; "" = the main file's directory
  std::string version = "1.22.1";  // defaults of this version apply
  // Text of `nginx -T` (used when path is "-"; the caller reads stdin).
  std::string dump_text;
};

// Reads an nginx configuration (includes with globs, `nginx -T` dumps) into
// routes: every proxy_pass to https://, or built from variables. Errors
// (InvalidArgument) name "file:line: what": a missing file, unbalanced braces,
// an unterminated quote, an include that matches nothing without a glob.
Result<ProxyConfig> LoadNginxRoutes(const NginxLoadOptions& options);

// nginx's defaults for this version ("1.22.1"): proxy_ssl_protocols changed in
// 1.23.4 from TLSv1 TLSv1.1 TLSv1.2 to TLSv1.2 TLSv1.3.
std::vector<std::string> NginxDefaultProtocols(const std::string& version);

// The installed nginx's version from `nginx -v` ("" when there is none).
std::string InstalledNginxVersion();

// Findings of this component beyond diagnose.h's codes (docs/nginx.md).
namespace finding {
inline constexpr std::string_view kUpstreamNameAsSni = "upstream_name_as_sni";
inline constexpr std::string_view kVerifyDepthExceeded = "verify_depth_exceeded";
}  // namespace finding

struct RouteCheck {
  const ProxyRoute* route = nullptr;         // into the ProxyConfig checked
  std::vector<std::string> addresses;        // "127.0.0.1:8443" probed
  std::optional<std::string> sni;            // what the proxy sends (nullopt = none)
  std::string profile;                       // "TLSv1-TLSv1.2 ciphers=DEFAULT"
  std::optional<bool> will_work;             // nullopt = not checked
  std::string reason;                        // one line: why (not) / why not checked
  std::vector<Finding> findings;             // empty when it works
  std::vector<std::string> fix_directives;   // "proxy_ssl_server_name on;" ...
  std::string proof;                         // "" when no fix could be proven
};

struct CheckOptions {
  int timeout_ms = 5000;
  int64_t now_s = 0;  // for certificate validity
};

// Probes every route's upstream addresses as the proxy would. Routes not
// checked come back with will_work nullopt and their reason. An Engine that
// cannot be created (io_uring unavailable) is an error.
Result<std::vector<RouteCheck>> CheckRoutes(const ProxyConfig& config, const CheckOptions& options);

// Output: the text report, the JSON document (schema originwatch.nginx/1),
// and the `nginx import` TOML.
std::string RenderCheckText(const ProxyConfig& config, const std::vector<RouteCheck>& checks);
std::string RenderCheckJson(const ProxyConfig& config, const std::vector<RouteCheck>& checks);
std::string RenderImportToml(const ProxyConfig& config);

}  // namespace originwatch
