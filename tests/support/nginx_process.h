// A real nginx (Debian's nginx-light) for tests: one process (master_process
// off, daemon off) started on loopback with a configuration the test writes,
// in a directory the test owns, and stopped by its PID.
//
// Ownership: the object owns the child; the destructor sends SIGTERM, waits at
// most 5 s, then SIGKILL. Start and the destructor run on the owner's thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace originwatch::testing {

class NginxProcess {
 public:
  // The nginx binary (ORIGINWATCH_NGINX, else /usr/sbin/nginx, else nginx on
  // PATH), or "" when there is none.
  static std::string Binary();

  // Writes dir/nginx.conf around `http_body` (the inside of the http {} block;
  // logs, pid and temp paths go to dir), starts nginx and waits (at most 10 s)
  // until every port in `ports` accepts on 127.0.0.1. nullptr on failure, with
  // *error saying why (nginx's error log included).
  static std::unique_ptr<NginxProcess> Start(const std::filesystem::path& dir, const std::string& http_body,
                                             const std::vector<uint16_t>& ports, std::string* error);
  ~NginxProcess();
  NginxProcess(const NginxProcess&) = delete;
  NginxProcess& operator=(const NginxProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The error log so far (for failure messages).
  std::string ErrorLog() const;

 private:
  NginxProcess(pid_t pid, std::filesystem::path dir) : pid_(pid), dir_(std::move(dir)) {}
  pid_t pid_;
  std::filesystem::path dir_;
};

}  // namespace originwatch::testing
