// The scenario catalogue: one scripted origin per failure mode originwatch must
// explain, with the finding code the engine + diagnose must put first.
//
// Shared by the originwatch-fleet program and the end-to-end tests, so that a
// scenario seen by hand (`originwatch probe` against the fleet) is the same one
// the tests assert. A client trusts the root of the Pki given to
// BuildScenarios (write it with Pki::WriteRootPem); a client probes
// `host` (with SNI = host, and without SNI) at the server's address and port.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/pki.h"
#include "support/tls_server.h"

namespace originwatch::testing {

// Suffix of every scenario host name: "<name>.fleet.test".
inline constexpr std::string_view kFleetDomain = "fleet.test";

struct Scenario {
  std::string name;              // "sni-required"
  std::string host;              // the name a client should probe: "sni-required.fleet.test"
  std::string description;       // one line for the fleet listing
  std::string expected_finding;  // finding::k* code the diagnosis must produce as its LEAD
  ServerOptions options;         // behavior kRefused = nothing listens on the port
};

// Every scenario, in a stable order (the fleet assigns ports base + index).
// Leaves are issued by `pki` (except self-signed and untrusted-root, which use
// their own keys / a second, untrusted Pki). Takes well under a second (one
// RSA key, cached by the Pki).
std::vector<Scenario> BuildScenarios(const Pki& pki);

// The scenario named `name`, or nullptr.
const Scenario* FindScenario(const std::vector<Scenario>& scenarios, std::string_view name);

// Starts the scenario's server on address:port (port 0 = ephemeral).
// nullptr (message on stderr) if it cannot bind.
std::unique_ptr<TlsTestServer> StartScenario(const Scenario& scenario,
                                             const std::string& address = "127.0.0.1",
                                             uint16_t port = 0);

}  // namespace originwatch::testing
