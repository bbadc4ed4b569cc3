// Fuzzes how a webhook delivery reads the receiver's answer: the status line,
// the headers (Retry-After is parsed by our libcurl header callback) and the
// body excerpt. A real HTTP receiver on loopback answers the real POST of
// SendTestEvent with the input bytes, then closes. Whatever it sends, the
// result must be an excerpt of at most 512 bytes, and no error only for a 2xx.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "fuzz_check.h"
#include "originwatch/config.h"
#include "originwatch/webhook.h"

namespace {

// Accepts one connection per input, reads the request (headers, then
// Content-Length bytes of body, bounded in time), writes the answer, closes.
class Receiver {
 public:
  Receiver() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    FUZZ_CHECK(listen(listen_fd_, 16) == 0);
    socklen_t len = sizeof addr;
    FUZZ_CHECK(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  uint16_t port() const { return port_; }

  // Serves `answer` to the next connection, on a thread of its own; Join()
  // waits for it.
  void ServeOnce(std::string answer) {
    thread_ = std::thread([this, answer = std::move(answer)] { Serve(answer); });
  }
  void Join() { thread_.join(); }

 private:
  void Serve(const std::string& answer) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return;  // the client never came: its result says so
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    ReadRequest(fd);
    size_t off = 0;
    while (off < answer.size()) {
      ssize_t n = send(fd, answer.data() + off, answer.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;  // the client may hang up as soon as it has seen enough
      off += static_cast<size_t>(n);
    }
    shutdown(fd, SHUT_WR);
    // Drain until the client closes, so closing here sends a FIN, not a reset
    // that could overtake the answer.
    char buf[4096];
    pollfd q{fd, POLLIN, 0};
    for (int i = 0; i < 64 && poll(&q, 1, 2000) == 1; ++i) {
      if (recv(fd, buf, sizeof buf, 0) <= 0) break;
    }
    close(fd);
  }

  static void ReadRequest(int fd) {
    std::string req;
    size_t need = std::string::npos;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (int i = 0; i < 1024 && std::chrono::steady_clock::now() < deadline; ++i) {
      if (need != std::string::npos && req.size() >= need) return;
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 1000) != 1) return;
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, static_cast<size_t>(n));
      size_t end = req.find("\r\n\r\n");
      if (need == std::string::npos && end != std::string::npos) {
        size_t body = 0;
        size_t cl = req.find("Content-Length:");
        if (cl != std::string::npos && cl < end) body = std::strtoul(req.c_str() + cl + 15, nullptr, 10);
        need = end + 4 + body;
      }
    }
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

Receiver& TheReceiver() {
  static Receiver* r = new Receiver;  // lives for the process
  return *r;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  originwatch::WebhookGlobalInit();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Receiver& receiver = TheReceiver();
  originwatch::WebhookConfig webhook;
  webhook.name = "fuzz";
  webhook.url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  webhook.timeout_ms = 3000;
  receiver.ServeOnce(std::string(reinterpret_cast<const char*>(data), size));
  // A fixed clock: an HTTP-date Retry-After then always means the same delay.
  auto result = originwatch::SendTestEvent(webhook, 1'700'000'000'000);
  receiver.Join();
  FUZZ_CHECK(result.ok());
  const auto& d = result.value();
  // Any code libcurl read is passed on as it is (libcurl 7.88 reads 2001 from
  // "HTTP/2001C1H" and -1 from "HTTP/2-001"); what matters is that only a 2xx
  // counts as delivered.
  FUZZ_CHECK(d.body_excerpt.size() <= 512);
  FUZZ_CHECK(d.error.empty() == (d.http_status >= 200 && d.http_status <= 299));
  FUZZ_CHECK(d.duration_ms >= 0);
  return 0;
}
