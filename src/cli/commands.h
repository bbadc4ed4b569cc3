// The subcommands of the originwatch binary. Each returns the process exit
// code: 0 healthy/success, 1 a problem was found, 2 usage or input error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace originwatch::cli {

struct ProbeArgs {
  std::string target;                 // HOST[:PORT], https://HOST[:PORT]/PATH or http://HOST[:PORT]/PATH
  std::vector<std::string> connect;   // --connect ADDR (repeatable)
  std::vector<std::string> resolvers; // --resolver ADDR[:PORT] (repeatable)
  std::string family = "any";         // --family any|ipv4|ipv6
  std::optional<std::string> sni;     // --sni NAME
  bool no_sni = false;                // --no-sni
  std::vector<std::string> names;     // --name N (repeatable)
  std::vector<std::string> profiles;  // --profile P (repeatable)
  std::string ca_file;                // --ca FILE
  std::string timeout = "10s";        // --timeout D
  bool json = false;
  // URL targets only: the HTTP request made after each successful handshake
  // (https://) or instead of TLS (http://).
  std::string method = "GET";         // --method GET|HEAD
  std::string host_header;            // --host NAME; "" = the URL's host[:port]
};

int RunProbe(const ProbeArgs& args);

// Splits "host", "host:port", "[v6]:port", "v6" into host and port. Returns
// an error message, or "" on success.
std::string SplitHostPort(const std::string& target, std::string* host, uint16_t* port);

}  // namespace originwatch::cli
