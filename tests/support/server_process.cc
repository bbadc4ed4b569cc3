#include "support/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "support/tls_server.h"

extern char** environ;

namespace originwatch::testing {

uint16_t FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

std::unique_ptr<ServerProcess> ServerProcess::Start(const Pki& pki, int count, const CertOptions& leaf) {
  int up[2], down[2];
  if (::pipe2(up, O_CLOEXEC) != 0) return nullptr;
  if (::pipe2(down, O_CLOEXEC) != 0) {
    ::close(up[0]);
    ::close(up[1]);
    return nullptr;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {up[0], up[1], down[0], down[1]}) ::close(fd);
    return nullptr;
  }
  if (pid == 0) {
    ::close(up[0]);
    ::close(down[1]);
    std::vector<std::unique_ptr<TlsTestServer>> servers;
    for (int i = 0; i < count; ++i) {
      ServerOptions so;
      so.certs.push_back(ServedCert::From(pki.Leaf(leaf)));
      servers.push_back(TlsTestServer::Start(so));
      if (!servers.back()) _exit(1);
      uint16_t port = servers.back()->port();
      if (::write(up[1], &port, sizeof(port)) != sizeof(port)) _exit(1);
    }
    char b;
    while (::read(down[0], &b, 1) > 0) {
    }
    servers.clear();
    _exit(0);
  }
  ::close(up[1]);
  ::close(down[0]);
  std::unique_ptr<ServerProcess> p(new ServerProcess(pid, down[1]));
  for (int i = 0; i < count; ++i) {
    pollfd pfd{up[0], POLLIN, 0};
    uint16_t port = 0;
    if (::poll(&pfd, 1, 20000) != 1 || ::read(up[0], &port, sizeof(port)) != sizeof(port)) break;
    p->ports_.push_back(port);
  }
  ::close(up[0]);
  return p;
}

ServerProcess::~ServerProcess() {
  ::close(down_);  // the child's cue to leave
  int status = 0;
  for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) != pid_; ++i) ::usleep(50000);
  if (::kill(pid_, 0) == 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
}

std::unique_ptr<RelayProcess> RelayProcess::Start(const std::string& binary, const std::string& map_path,
                                                  int delay_ms, std::string* error) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    if (error != nullptr) *error = "cannot start " + binary + ": " + std::strerror(errno);
    return nullptr;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  const std::string delay = std::to_string(delay_ms);
  const char* args[] = {binary.c_str(), "--map", map_path.c_str(), "--delay-ms", delay.c_str(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, binary.c_str(), &fa, nullptr, const_cast<char**>(args), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    if (error != nullptr) *error = "cannot start " + binary + ": " + std::strerror(rc);
    return nullptr;
  }
  std::unique_ptr<RelayProcess> p(new RelayProcess(pid, fds[0]));
  pollfd pfd{fds[0], POLLIN, 0};
  char buf[16] = {};
  if (::poll(&pfd, 1, 10000) != 1 || ::read(fds[0], buf, sizeof(buf) - 1) < 5 ||
      std::strncmp(buf, "ready", 5) != 0) {
    if (error != nullptr) *error = binary + " did not say ready";
    return nullptr;  // the destructor stops it
  }
  return p;
}

RelayProcess::~RelayProcess() {
  ::kill(pid_, SIGTERM);
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 100 && !exited; ++i) {
    exited = ::waitpid(pid_, &status, WNOHANG) == pid_;
    if (!exited) ::usleep(50000);
  }
  if (!exited) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }
  ::close(out_);
}

std::vector<uint16_t> StartRelays(const RelayFleetOptions& options, const std::vector<uint16_t>& targets,
                                  std::vector<std::unique_ptr<RelayProcess>>* relays, std::string* error) {
  if (targets.empty()) {
    if (error != nullptr) *error = "no target ports for the relays";
    return {};
  }
  std::vector<uint16_t> ports;
  for (int r = 0; r < options.relays; ++r) {
    const std::string map = (options.dir / ("relay" + std::to_string(r) + ".map")).string();
    std::ofstream m(map);
    m << "# listen target\n";
    for (int l = 0; l < options.listeners; ++l) {
      const uint16_t port = FreeLoopbackPort();
      ports.push_back(port);
      m << "127.0.0.1:" << port << " 127.0.0.1:"
        << targets[static_cast<size_t>(r * options.listeners + l) % targets.size()] << "\n";
    }
    m.close();
    relays->push_back(RelayProcess::Start(options.binary, map, options.delay_ms, error));
    if (!relays->back()) {
      relays->pop_back();
      return {};
    }
  }
  return ports;
}

}  // namespace originwatch::testing
