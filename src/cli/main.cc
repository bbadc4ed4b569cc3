// originwatch: watches TLS origins. Subcommands: probe, run, query, report,
// check-config. CLI11's exceptions end here: none escapes main.
#include <CLI/CLI.hpp>

#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <string_view>

#include "cli/commands.h"
#include "cli/history_cmds.h"
#include "cli/nginx_cmd.h"
#include "originwatch/agent.h"
#include "originwatch/config.h"
#include "originwatch/engine.h"
#include "originwatch/log.h"

namespace {

// The subcommand is the first argument that is not an option.
bool IsRunCommand(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (!a.empty() && a.front() == '-') continue;
    return a == "run";
  }
  return false;
}

extern "C" void ExitOnInterrupt(int) { _exit(130); }

// probe and query end on Ctrl-C with the shell's status for it, 130, even when
// started with SIGINT blocked; a SIGINT ignored by the parent (a background
// job) stays ignored.
void EndOnInterrupt() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
  struct sigaction old {};
  if (sigaction(SIGINT, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) return;
  struct sigaction sa {};
  sa.sa_handler = ExitOnInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  // run takes SIGTERM, SIGINT and SIGHUP with sigtimedwait once it runs;
  // blocked before anything else, a signal sent while the configuration is
  // still being read waits for that loop instead of killing the agent (the
  // same mask RunAgent sets again, inherited by every thread).
  if (IsRunCommand(argc, argv)) originwatch::BlockAgentSignals();
  using namespace originwatch;
  using namespace originwatch::cli;
  PrepareOpenSsl();  // before any certificate or key is parsed
  CLI::App app{"originwatch: watches TLS origins and explains why a handshake fails"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "originwatch 0.1.0");

  ProbeArgs probe;
  CLI::App* probe_cmd = app.add_subcommand(
      "probe", "Diagnose one origin now, through the variant matrix (SNI, no SNI, client profiles)");
  probe_cmd->add_option("target", probe.target, "HOST[:PORT] (default port 443), or a URL https://HOST[:PORT]/PATH or http://HOST[:PORT]/PATH (then one HTTP request per variant)")->required();
  probe_cmd->add_option("--connect", probe.connect, "connect to this address instead of resolving HOST (repeatable)")->allow_extra_args(false);
  probe_cmd
      ->add_option("--resolver", probe.resolvers,
                   "DNS server to look HOST up on: ADDR[:PORT], [IPv6]:PORT (repeatable; "
                   "default: the hosts file, then resolv.conf)")
      ->allow_extra_args(false);
  probe_cmd->add_option("--family", probe.family,
                        "look up and probe: any, ipv4 or ipv6 addresses (default any)");
  probe_cmd->add_option("--sni", probe.sni, "probe with this SNI only");
  probe_cmd->add_flag("--no-sni", probe.no_sni, "probe without SNI only");
  probe_cmd->add_option("--name", probe.names, "another name the certificate must cover; also probed as SNI (repeatable)")->allow_extra_args(false);
  probe_cmd->add_option("--profile", probe.profiles, "client profile: modern, legacy-rsa (repeatable; default: all)")->allow_extra_args(false);
  probe_cmd->add_option("--ca", probe.ca_file, "CA bundle (PEM) to verify chains against (default: the system bundle)");
  probe_cmd->add_option("--timeout", probe.timeout, "deadline of one probe, e.g. 10s, 500ms (default 10s)");
  probe_cmd->add_flag("--json", probe.json, "print one JSON document (docs/probe-json.md)");
  probe_cmd->add_option("--method", probe.method, "URL targets: the HTTP method, GET or HEAD (default GET)");
  probe_cmd->add_option("--host", probe.host_header, "URL targets: the Host header (default: the URL's host[:port])");

  AgentArgs run;
  std::string run_duration;
  CLI::App* run_cmd = app.add_subcommand("run", "Run the agent: probe every origin on schedule, keep the history in SQLite");
  run_cmd->add_option("-c,--config", run.config_path, "configuration file (TOML)")->required();
  run_cmd->add_option("--duration", run_duration, "stop after this long, e.g. 30s (default: until SIGTERM/SIGINT)");
  std::string run_shard, log_format = "text";
  CLI::Option* shard_opt = run_cmd->add_option("--shard", run_shard, "probe only shard i of N agents sharing this config, e.g. 2/3 (docs/deploy.md)");
  run_cmd->add_option("--log-format", log_format, "text or json: one JSON object per line (default text)");

  std::string check_path;
  CLI::App* check_cmd = app.add_subcommand("check-config", "Validate a configuration file; list every error as file:line:column");
  check_cmd->add_option("-c,--config,config", check_path, "configuration file (TOML)")->required();

  HistoryArgs query;
  CLI::App* query_cmd = app.add_subcommand("query", "Run SQL on the history database (read-only)");
  query_cmd->add_option("sql", query.sql, "a read-only SQL statement (e.g. SELECT * FROM latest)")->required();
  query_cmd->add_option("--db", query.dbs, "database file; repeat it (up to 10) to query several agents' databases as one, with a source column (default: from --config, else originwatch.db)")->allow_extra_args(false);
  query_cmd->add_option("-c,--config", query.config_path, "take the database path from this configuration");
  query_cmd->add_option("--format", query.format, "table, csv or json (default table)");
  query_cmd->add_option("--max-rows", query.max_rows, "print at most N rows; more rows: exit 1 (default: no limit)");
  query_cmd->add_option("--timeout", query.timeout, "stop after this long, e.g. 1s, 500ms; exit 1 (default: no limit)");

  HistoryArgs report;
  CLI::App* report_cmd = app.add_subcommand("report", "Common answers: expiring [DAYS] | failing | changes [ORIGIN] | origin NAME | alerts [N]");
  report_cmd->add_option("kind", report.kind, "expiring, failing, changes, origin or alerts")->required();
  report_cmd->add_option("arg", report.arg, "DAYS for expiring, ORIGIN for changes/origin");
  report_cmd->add_option("--db", report.dbs, "database file; repeat it (up to 10) to report over several agents' databases, with a source column (default: from --config, else originwatch.db)")->allow_extra_args(false);
  report_cmd->add_option("-c,--config", report.config_path, "take the database path from this configuration");
  report_cmd->add_option("--format", report.format, "table, csv or json (default table)");
  report_cmd->add_option("--max-rows", report.max_rows, "print at most N rows; more rows: exit 1 (default: no limit)");
  report_cmd->add_option("--timeout", report.timeout, "stop after this long, e.g. 1s, 500ms; exit 1 (default: no limit)");

  std::string webhook_config, webhook_name;
  CLI::App* webhook_cmd = app.add_subcommand("webhook", "Webhook tools");
  CLI::App* webhook_test = webhook_cmd->add_subcommand("test", "Send a sample event to a configured webhook and report the result");
  webhook_test->add_option("name", webhook_name, "the [[webhook]] name")->required();
  webhook_test->add_option("-c,--config", webhook_config, "configuration file (TOML)")->required();
  webhook_test->add_option("--log-format", log_format, "text or json: one JSON object per line (default text)");
  webhook_cmd->require_subcommand(1);

  auto nginx_cmds = AddNginxCommands(app);

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
  LogFormat format = LogFormat::kText;
  if (!ParseLogFormat(log_format, &format)) {
    std::cerr << "originwatch: bad --log-format \"" << log_format << "\": use text or json\n";
    return 2;
  }
  SetLogFormat(format);
  if (probe_cmd->parsed()) {
    EndOnInterrupt();
    return RunProbe(probe);
  }
  if (run_cmd->parsed()) {
    if (!run_duration.empty()) {
      auto ms = originwatch::ParseDurationMs(run_duration);
      if (!ms || *ms <= 0) {
        std::cerr << "originwatch run: bad --duration \"" << run_duration << "\": use e.g. 30s, 5m\n";
        return 2;
      }
      run.duration_ms = *ms;
    }
    if (shard_opt->count() > 0) {
      std::string error;
      if (!ParseShardSpec(run_shard, &run.shard_index, &run.shard_count, &error)) {
        std::cerr << "originwatch run: " << error << "\n";
        return 2;
      }
    }
    return RunAgent(run);
  }
  if (check_cmd->parsed()) return RunCheckConfig(check_path);
  if (query_cmd->parsed()) {
    EndOnInterrupt();
    return RunQueryCmd(query);
  }
  if (report_cmd->parsed()) return RunReportCmd(report);
  if (webhook_test->parsed()) return RunWebhookTest(webhook_config, webhook_name);
  if (int rc = RunNginxCommands(*nginx_cmds); rc >= 0) return rc;
  return 2;
}
