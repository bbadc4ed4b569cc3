// originwatch: watches TLS origins. Subcommands: probe, run, query, report,
// check-config. CLI11's exceptions end here: none escapes main.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  using namespace originwatch::cli;
  CLI::App app{"originwatch: watches TLS origins and explains why a handshake fails"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "originwatch 0.1.0");

  ProbeArgs probe;
  CLI::App* probe_cmd = app.add_subcommand(
      "probe", "Diagnose one origin now, through the variant matrix (SNI, no SNI, client profiles)");
  probe_cmd->add_option("target", probe.target, "HOST[:PORT] (default port 443)")->required();
  probe_cmd->add_option("--connect", probe.connect, "connect to this address instead of resolving HOST (repeatable)")->allow_extra_args(false);
  probe_cmd->add_option("--sni", probe.sni, "probe with this SNI only");
  probe_cmd->add_flag("--no-sni", probe.no_sni, "probe without SNI only");
  probe_cmd->add_option("--name", probe.names, "another name the certificate must cover; also probed as SNI (repeatable)")->allow_extra_args(false);
  probe_cmd->add_option("--profile", probe.profiles, "client profile: modern, legacy-rsa (repeatable; default: all)")->allow_extra_args(false);
  probe_cmd->add_option("--ca", probe.ca_file, "CA bundle (PEM) to verify chains against (default: the system bundle)");
  probe_cmd->add_option("--timeout", probe.timeout, "deadline of one probe, e.g. 10s, 500ms (default 10s)");
  probe_cmd->add_flag("--json", probe.json, "print one JSON document (docs/probe-json.md)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "originwatch: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (probe_cmd->parsed()) return RunProbe(probe);
  return 2;
}
