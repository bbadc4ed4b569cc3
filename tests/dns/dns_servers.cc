#include "dns/dns_servers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace originwatch::testing {
namespace {

// The Debian path of dnsmasq-base; ORIGINWATCH_DNSMASQ overrides it.
const char* DnsmasqPath() {
  const char* env = std::getenv("ORIGINWATCH_DNSMASQ");
  return env != nullptr ? env : "/usr/sbin/dnsmasq";
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

// A port of 127.0.0.1 free for UDP and TCP at the moment of asking.
uint16_t FreePort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa = Loopback(0);
    socklen_t len = sizeof(sa);
    if (udp < 0) return 0;
    if (bind(udp, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        getsockname(udp, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      close(udp);
      continue;
    }
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool both = tcp >= 0 && bind(tcp, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
    if (tcp >= 0) close(tcp);
    close(udp);
    if (both) return ntohs(sa.sin_port);
  }
  return 0;
}

bool TcpAccepts(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa = Loopback(port);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  close(fd);
  return ok;
}

void StopChild(pid_t pid) {
  kill(pid, SIGTERM);
  for (int i = 0; i < 200; ++i) {  // up to 2 s, then SIGKILL
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

}  // namespace

std::unique_ptr<Dnsmasq> Dnsmasq::Start(const std::vector<std::string>& records,
                                        std::string* error) {
  if (access(DnsmasqPath(), X_OK) != 0) {
    *error = std::string(DnsmasqPath()) + " is missing: install dnsmasq-base (scripts/install-deps.sh)";
    return nullptr;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {  // another process may take the port first
    const uint16_t port = FreePort();
    if (port == 0) break;
    std::vector<std::string> args = {DnsmasqPath(),
                                     "--no-daemon",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--port=" + std::to_string(port),
                                     "--listen-address=127.0.0.1",
                                     "--bind-interfaces",
                                     "--conf-file=/dev/null",
                                     "--pid-file",
                                     "--log-facility=/dev/null"};
    args.insert(args.end(), records.begin(), records.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      *error = std::string("posix_spawn dnsmasq: ") + std::strerror(rc);
      return nullptr;
    }
    for (int i = 0; i < 250; ++i) {  // up to 5 s for it to listen
      if (waitpid(pid, nullptr, WNOHANG) == pid) {
        pid = 0;  // it exited (the port was taken, a bad option): try again
        break;
      }
      if (TcpAccepts(port)) return std::unique_ptr<Dnsmasq>(new Dnsmasq(pid, port));
      usleep(20000);
    }
    if (pid != 0) StopChild(pid);
  }
  *error = "dnsmasq did not come up on a free port of 127.0.0.1";
  return nullptr;
}

Dnsmasq::~Dnsmasq() { StopChild(pid_); }

ScriptedResponder::ScriptedResponder(Mode mode) : mode_(mode) {
  fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa = Loopback(0);
  socklen_t len = sizeof(sa);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return;
  }
  port_ = ntohs(sa.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

ScriptedResponder::~ScriptedResponder() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
}

void ScriptedResponder::Serve() {
  // Bounded: each wait is 20 ms and the loop ends when the destructor asks.
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    unsigned char buf[512];
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n =
        recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 12) continue;
    ++queries_;
    if (mode_ == Mode::kSilent) continue;
    // The question ends after its name (labels up to a zero byte) and 4 bytes
    // of type and class; anything after it (an EDNS OPT record) is dropped.
    size_t end = 12;
    while (end < static_cast<size_t>(n) && buf[end] != 0) end += buf[end] + 1;
    end += 1 + 4;
    if (end > static_cast<size_t>(n)) continue;
    const unsigned rcode = mode_ == Mode::kServfail ? 2 : 5;
    buf[2] = static_cast<unsigned char>(0x80 | (buf[2] & 0x79));  // QR=1, opcode and RD kept
    buf[3] = static_cast<unsigned char>(0x80 | rcode);             // RA=1
    buf[4] = 0, buf[5] = 1;                                        // QDCOUNT 1
    std::memset(buf + 6, 0, 6);                                    // AN, NS, AR: 0
    sendto(fd_, buf, end, 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }
}

bool Dnsmasq::Reload() const { return pid_ > 0 && kill(pid_, SIGHUP) == 0; }

}  // namespace originwatch::testing
