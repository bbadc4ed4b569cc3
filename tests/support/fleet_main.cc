// originwatch-fleet: every scenario of tests/support/scenarios.h as a live
// server on loopback, for trying originwatch by hand and for integration runs.
//
//   originwatch-fleet [--address 127.0.0.1] [--base-port 9400] [--ca-out fleet-ca.pem]
//                     [--manifest fleet.json] [--duration SECONDS]
//
// Scenario i listens on base-port + i (ephemeral ports when base-port is 0).
// Runs until SIGINT/SIGTERM or --duration elapses.
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/pki.h"
#include "support/scenarios.h"
#include "support/tls_server.h"

namespace originwatch::testing {
namespace {

struct Args {
  std::string address = "127.0.0.1";
  long base_port = 9400;
  std::string ca_out = "fleet-ca.pem";
  std::string manifest = "fleet.json";
  double duration_s = 0;  // 0 = until a signal
};

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: originwatch-fleet [--address 127.0.0.1] [--base-port 9400]\n"
               "                         [--ca-out fleet-ca.pem] [--manifest fleet.json]\n"
               "                         [--duration SECONDS]\n"
               "Starts every test scenario on loopback (scenario i on base-port + i,\n"
               "ephemeral ports if base-port is 0), writes the root CA and a JSON manifest,\n"
               "and runs until SIGINT/SIGTERM or --duration elapses.\n");
}

// 0 = parsed, 1 = error, 2 = help printed.
int ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 2;
    }
    std::string value;
    size_t eq = a.find('=');
    const std::string opt = eq != std::string::npos ? a.substr(0, eq) : a;
    if (opt != "--address" && opt != "--base-port" && opt != "--ca-out" && opt != "--manifest" &&
        opt != "--duration") {
      std::fprintf(stderr, "originwatch-fleet: unknown option %s\n", a.c_str());
      Usage(stderr);
      return 1;
    }
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "originwatch-fleet: %s needs a value\n", a.c_str());
      return 1;
    }
    char* end = nullptr;
    errno = 0;
    if (a == "--address") {
      args->address = value;
    } else if (a == "--base-port") {
      args->base_port = std::strtol(value.c_str(), &end, 10);
      if (errno != 0 || end == value.c_str() || *end != '\0' || args->base_port < 0 ||
          args->base_port > 65535) {
        std::fprintf(stderr, "originwatch-fleet: --base-port: not a port: %s\n", value.c_str());
        return 1;
      }
    } else if (a == "--ca-out") {
      args->ca_out = value;
    } else if (a == "--manifest") {
      args->manifest = value;
    } else if (a == "--duration") {
      args->duration_s = std::strtod(value.c_str(), &end);
      if (errno != 0 || end == value.c_str() || *end != '\0' || args->duration_s < 0) {
        std::fprintf(stderr, "originwatch-fleet: --duration: not a number of seconds: %s\n",
                     value.c_str());
        return 1;
      }
    }
  }
  return 0;
}

int Run(int argc, char** argv) {
  Args args;
  if (int r = ParseArgs(argc, argv, &args); r != 0) return r == 2 ? 0 : 2;
  if (!IsLoopbackAddress(args.address)) {
    std::fprintf(stderr,
                 "originwatch-fleet: --address %s refused: the fleet serves broken TLS on "
                 "purpose and only listens on loopback (127.0.0.0/8 or ::1)\n",
                 args.address.c_str());
    return 2;
  }

  // Block the stop signals before any server thread starts, so that only
  // sigtimedwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  Pki pki = Pki::Create("originwatch fleet");
  std::vector<Scenario> scenarios = BuildScenarios(pki);
  if (args.base_port > 0 && args.base_port + static_cast<long>(scenarios.size()) - 1 > 65535) {
    std::fprintf(stderr, "originwatch-fleet: --base-port %ld leaves no room for %zu ports\n",
                 args.base_port, scenarios.size());
    return 2;
  }
  if (!pki.WriteRootPem(args.ca_out)) return 1;

  std::vector<std::unique_ptr<TlsTestServer>> servers;
  size_t width = 0;
  for (const auto& s : scenarios) width = std::max(width, s.name.size());
  nlohmann::json manifest = nlohmann::json::array();
  for (size_t i = 0; i < scenarios.size(); ++i) {
    const Scenario& s = scenarios[i];
    uint16_t port = args.base_port == 0 ? 0 : static_cast<uint16_t>(args.base_port + i);
    auto server = StartScenario(s, args.address, port);
    if (!server) {
      std::fprintf(stderr, "originwatch-fleet: cannot start %s on %s:%u\n", s.name.c_str(),
                   args.address.c_str(), port);
      return 1;
    }
    std::string where = args.address.find(':') != std::string::npos
                            ? "[" + args.address + "]:" + std::to_string(server->port())
                            : args.address + ":" + std::to_string(server->port());
    std::printf("%-*s %-16s  host=%s  expect=%s  %s\n", static_cast<int>(width), s.name.c_str(),
                where.c_str(), s.host.c_str(), s.expected_finding.c_str(), s.description.c_str());
    manifest.push_back({{"name", s.name},
                        {"host", s.host},
                        {"address", args.address},
                        {"port", server->port()},
                        {"expected_finding", s.expected_finding},
                        {"description", s.description}});
    servers.push_back(std::move(server));
  }
  {
    std::ofstream out(args.manifest, std::ios::trunc);
    out << manifest.dump(2) << "\n";
    out.close();
    if (!out) {
      std::fprintf(stderr, "originwatch-fleet: cannot write manifest %s\n", args.manifest.c_str());
      return 1;
    }
  }
  std::printf("fleet: %zu scenarios on %s, root CA in %s, manifest in %s\n", scenarios.size(),
              args.address.c_str(), args.ca_out.c_str(), args.manifest.c_str());
  std::fflush(stdout);

  timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  const bool bounded = args.duration_s > 0;
  if (bounded) {
    auto ns = static_cast<long long>(args.duration_s * 1e9);
    deadline.tv_sec += ns / 1000000000;
    deadline.tv_nsec += ns % 1000000000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000;
    }
  }
  for (;;) {
    timespec wait{1, 0};
    if (bounded) {
      timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long long left =
          (deadline.tv_sec - now.tv_sec) * 1000000000LL + (deadline.tv_nsec - now.tv_nsec);
      if (left <= 0) break;
      if (left < 1000000000LL) wait = {0, static_cast<long>(left)};
    }
    int sig = sigtimedwait(&stop, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) {
      std::fprintf(stderr, "originwatch-fleet: signal %d, stopping\n", sig);
      break;
    }
  }
  servers.clear();
  return 0;
}

}  // namespace
}  // namespace originwatch::testing

int main(int argc, char** argv) { return originwatch::testing::Run(argc, argv); }
