// The nginx subcommands: read the configuration (a file, or `nginx -T` on
// stdin), check every https upstream as that nginx version would, print.
#include "cli/nginx_cmd.h"

#include <algorithm>
#include <ctime>
#include <iostream>
#include <iterator>

#include "originwatch/config.h"
#include "originwatch/nginx.h"

namespace originwatch::cli {

std::unique_ptr<NginxCommands> AddNginxCommands(CLI::App& app) {
  auto cmds = std::make_unique<NginxCommands>();
  NginxArgs& a = cmds->args;
  CLI::App* nginx = app.add_subcommand("nginx", "Reverse proxy tools: predict nginx's upstream handshakes, import its routes");
  nginx->require_subcommand(1);
  cmds->check = nginx->add_subcommand(
      "check", "Probe every proxy_pass https:// upstream exactly as this nginx would; exit 1 if one will fail");
  cmds->import = nginx->add_subcommand("import", "Print [[origin]] TOML watching each upstream and front of an nginx configuration");
  for (CLI::App* c : {cmds->check, cmds->import}) {
    c->add_option("file", a.file, "nginx.conf, or - for the output of `nginx -T` on stdin")->required();
    c->add_option("--prefix", a.prefix, "directory relative includes resolve against (default: the file's directory)");
    c->add_option("--nginx-version", a.nginx_version,
                  "apply this nginx version's defaults, e.g. 1.22.1 (default: `nginx -v` of the installed nginx)");
  }
  cmds->check->add_option("--timeout", a.timeout, "deadline of one probe, e.g. 5s (default 5s)");
  cmds->check->add_flag("--json", a.json, "print one JSON document (schema originwatch.nginx/1, docs/nginx.md)");
  return cmds;
}

int RunNginxCommands(const NginxCommands& cmds) {
  const bool check = cmds.check->parsed();
  if (!check && !cmds.import->parsed()) return -1;
  const NginxArgs& a = cmds.args;
  const char* who = check ? "originwatch nginx check" : "originwatch nginx import";
  NginxLoadOptions lo;
  lo.path = a.file;
  lo.prefix = a.prefix;
  std::string source;
  if (!a.nginx_version.empty()) {
    bool ok = a.nginx_version.find_first_not_of("0123456789.") == std::string::npos &&
              std::count(a.nginx_version.begin(), a.nginx_version.end(), '.') == 2;
    if (!ok) {
      std::cerr << who << ": bad --nginx-version \"" << a.nginx_version << "\": use X.Y.Z, e.g. 1.22.1\n";
      return 2;
    }
    lo.version = a.nginx_version;
    source = "--nginx-version";
  } else {
    lo.version = InstalledNginxVersion();
    source = "nginx -v";
    if (lo.version.empty()) {
      std::cerr << who << ": nginx is not installed here: give the version of the nginx that runs this "
                << "configuration with --nginx-version X.Y.Z (its defaults differ, see docs/nginx.md)\n";
      return 2;
    }
  }
  if (a.file == "-") {
    lo.dump_text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  auto cfg = LoadNginxRoutes(lo);
  if (!cfg.ok()) {
    std::cerr << who << ": " << cfg.status().message() << "\n";
    return 2;
  }
  cfg->version_source = source;
  if (!check) {
    std::cout << RenderImportToml(cfg.value());
    return 0;
  }
  auto ms = ParseDurationMs(a.timeout);
  if (!ms || *ms <= 0 || *ms > 600000) {
    std::cerr << who << ": bad --timeout \"" << a.timeout << "\": use e.g. 5s, 500ms (at most 10m)\n";
    return 2;
  }
  CheckOptions co;
  co.timeout_ms = static_cast<int>(*ms);
  co.now_s = static_cast<int64_t>(std::time(nullptr));
  auto checks = CheckRoutes(cfg.value(), co);
  if (!checks.ok()) {
    std::cerr << who << ": " << checks.status().message() << "\n";
    return 2;
  }
  std::cout << (a.json ? RenderCheckJson(cfg.value(), checks.value()) : RenderCheckText(cfg.value(), checks.value()));
  for (const RouteCheck& c : checks.value()) {
    if (c.will_work.has_value() && !*c.will_work) return 1;
  }
  return 0;
}

}  // namespace originwatch::cli
