// Fuzzes the nginx configuration reader behind `originwatch nginx check -` and
// `nginx import`: any `nginx -T` text must give routes or an error naming
// file:line, never a crash, a hang or unbounded memory; the routes it gives
// must render as TOML and JSON.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "originwatch/nginx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // A dump names its files; inputs without the header are one main file.
  if (text.rfind("# configuration file ", 0) != 0) text = "# configuration file /etc/nginx/nginx.conf:\n" + text;
  originwatch::NginxLoadOptions options;
  options.path = "-";
  options.prefix = "/etc/nginx";
  options.version = "1.22.1";
  options.dump_text = std::move(text);
  auto r = originwatch::LoadNginxRoutes(options);
  if (!r.ok()) {
    FUZZ_CHECK(!r.status().message().empty());
    return 0;
  }
  for (const originwatch::ProxyRoute& route : r.value().routes) {
    FUZZ_CHECK(route.where.line > 0);
    FUZZ_CHECK(!route.where.file.empty());
  }
  FUZZ_CHECK(!originwatch::RenderCheckJson(r.value(), {}).empty());
  (void)originwatch::RenderImportToml(r.value());
  return 0;
}
