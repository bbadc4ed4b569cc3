// Real DNS peers on loopback for the resolver tests: dnsmasq with given
// records, and a scripted UDP responder that answers every query with one
// chosen RCODE (or never answers).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace originwatch::testing {

// dnsmasq on 127.0.0.1, UDP and TCP, on a free port, serving only what its
// arguments give (no resolv.conf, no hosts file, no upstream). Stopped by PID.
class Dnsmasq {
 public:
  // `records`: extra dnsmasq options ("--host-record=a.test,192.0.2.1,60").
  // nullptr with *error set when dnsmasq is missing or does not come up
  // within a few seconds.
  static std::unique_ptr<Dnsmasq> Start(const std::vector<std::string>& records,
                                        std::string* error);
  ~Dnsmasq();
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  uint16_t port() const { return port_; }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  // SIGHUP: dnsmasq clears its cache and reads its --addn-hosts files again,
  // so a test changes the answers without changing the port.
  bool Reload() const;

 private:
  Dnsmasq(pid_t pid, uint16_t port) : pid_(pid), port_(port) {}
  pid_t pid_;
  uint16_t port_;
};

// A UDP "DNS server" on 127.0.0.1 that answers each query with its own header
// (id, RD, QR=1, RA=1) and question and the chosen RCODE, no records; or
// never answers (kSilent). One thread, stopped by the destructor.
class ScriptedResponder {
 public:
  enum class Mode { kServfail, kRefused, kSilent };
  explicit ScriptedResponder(Mode mode);
  ~ScriptedResponder();
  ScriptedResponder(const ScriptedResponder&) = delete;
  ScriptedResponder& operator=(const ScriptedResponder&) = delete;

  bool ok() const { return fd_ >= 0; }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  int queries() const { return queries_.load(); }

 private:
  void Serve();
  Mode mode_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

}  // namespace originwatch::testing
