// Child processes for tests and benchmarks that hold thousands of connections:
// TLS test servers in a forked child (their sockets count against the child's
// limit on open files, their memory is not the caller's RSS), and
// originwatch-delay-relay processes that hold every byte back for a delay.
//
// Ownership: each object owns its child and stops it in its destructor (the
// server child when the pipe to it closes, a relay by SIGTERM; either gets
// SIGKILL if it has not left after a few seconds). Start and the destructor
// run on the owner's thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/pki.h"

namespace originwatch::testing {

// A free loopback port (bound to port 0, then released); 0 if none.
uint16_t FreeLoopbackPort();

// `count` TlsTestServers (kTls, on loopback) in a forked child, each serving a
// leaf of its own that `pki` issues for `leaf`.
class ServerProcess {
 public:
  // Forks: call it before the calling process has threads of its own, so the
  // child is a clean copy. Waits at most 20 s for each server's port. Returns
  // nullptr when a pipe or the fork fails; otherwise ports() holds the ports
  // of the servers that started, in order (fewer than `count` when one did
  // not start: the child exits at the first).
  static std::unique_ptr<ServerProcess> Start(const Pki& pki, int count, const CertOptions& leaf);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::vector<uint16_t>& ports() const { return ports_; }

 private:
  ServerProcess(pid_t pid, int down) : pid_(pid), down_(down) {}
  pid_t pid_;
  int down_;  // the write end of the pipe the child reads until it closes
  std::vector<uint16_t> ports_;
};

// One originwatch-delay-relay process: `binary --map map_path --delay-ms D`.
class RelayProcess {
 public:
  // Spawns it and waits (at most 10 s) for its "ready" on stdout. Returns
  // nullptr when it cannot start or does not say ready (then it is stopped);
  // *error, when given, says which, naming the binary.
  static std::unique_ptr<RelayProcess> Start(const std::string& binary, const std::string& map_path,
                                             int delay_ms, std::string* error = nullptr);
  ~RelayProcess();
  RelayProcess(const RelayProcess&) = delete;
  RelayProcess& operator=(const RelayProcess&) = delete;

 private:
  RelayProcess(pid_t pid, int out) : pid_(pid), out_(out) {}
  pid_t pid_;
  int out_;  // the read end of its stdout
};

struct RelayFleetOptions {
  std::string binary;          // the originwatch-delay-relay to spawn
  std::filesystem::path dir;   // where the map files go (relay0.map, relay1.map, ...)
  int relays = 2;
  int listeners = 4;           // listen ports per relay
  int delay_ms = 500;          // each way: RTT = 2 x delay_ms
};

// Starts options.relays relays; relay r listens on `listeners` free loopback
// ports, listener l forwarding to 127.0.0.1:targets[(r * listeners + l) %
// targets.size()]. Appends every relay it started to *relays (the caller's to
// stop) and returns all listen ports, relay by relay; returns an empty vector
// when a relay did not start (*error, when given, says why) or targets is
// empty.
std::vector<uint16_t> StartRelays(const RelayFleetOptions& options, const std::vector<uint16_t>& targets,
                                  std::vector<std::unique_ptr<RelayProcess>>* relays,
                                  std::string* error = nullptr);

}  // namespace originwatch::testing
