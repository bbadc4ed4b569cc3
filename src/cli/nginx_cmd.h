// `originwatch nginx check FILE [--json]` and `originwatch nginx import FILE`
// (docs/nginx.md): registered on the main CLI11 app, run after parsing.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

namespace originwatch::cli {

struct NginxArgs {
  std::string file;           // nginx.conf, or "-" for `nginx -T` output on stdin
  std::string prefix;         // --prefix: relative includes resolve here
  std::string nginx_version;  // --nginx-version X.Y.Z
  std::string timeout = "5s";
  bool json = false;
};

struct NginxCommands {
  CLI::App* check = nullptr;
  CLI::App* import = nullptr;
  NginxArgs args;
};

// Adds the "nginx" subcommand with "check" and "import". The returned object
// must outlive app.parse() (CLI11 writes the options into it).
std::unique_ptr<NginxCommands> AddNginxCommands(CLI::App& app);

// The exit code of the nginx subcommand that was parsed, or -1 when neither
// was: 0 every location works (or is not checked), 1 some will not, 2 usage.
int RunNginxCommands(const NginxCommands& cmds);

}  // namespace originwatch::cli
