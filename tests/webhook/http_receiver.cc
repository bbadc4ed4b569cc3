#include "originwatch/clock.h"
#include "webhook/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace originwatch::testing {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

// Waits for fd to be readable; false on stop, deadline or error.
bool WaitReadable(int fd, int stop_fd, int64_t deadline_ms) {
  for (int i = 0; i < 100000; ++i) {
    int64_t left = deadline_ms - UnixNowMs();
    if (left <= 0) return false;
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int n = ::poll(p, 2, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (p[1].revents) return false;
    if (p[0].revents) return true;
  }
  return false;
}

void SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client is gone
    off += static_cast<size_t>(n);
  }
}

}  // namespace

std::string HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return v;
  }
  return "";
}

bool HttpRequest::HasHeader(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return true;
  }
  return false;
}

HttpReceiver::~HttpReceiver() { Stop(); }

Status HttpReceiver::Start(uint16_t port) {
  if (thread_.joinable()) return Status::InvalidArgument("receiver already running");
  if (port == 0) port = port_;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 64) != 0) {
    int err = errno;
    ::close(fd);
    return Status::FromErrno("bind/listen 127.0.0.1:" + std::to_string(port), err);
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    int err = errno;
    ::close(fd);
    return Status::FromErrno("eventfd", err);
  }
  listen_fd_ = fd;
  stop_fd_ = efd;
  thread_ = std::thread([this, fd, efd] { Run(fd, efd); });
  return Status::Ok();
}

void HttpReceiver::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  ssize_t unused = ::write(stop_fd_, &one, sizeof(one));
  (void)unused;
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
  listen_fd_ = stop_fd_ = -1;
}

std::string HttpReceiver::Url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void HttpReceiver::Script(std::vector<HttpReply> replies) {
  std::lock_guard<std::mutex> lk(mu_);
  script_.assign(replies.begin(), replies.end());
}

void HttpReceiver::SetDefault(HttpReply reply) {
  std::lock_guard<std::mutex> lk(mu_);
  default_reply_ = std::move(reply);
}

std::vector<HttpRequest> HttpReceiver::requests() const {
  std::lock_guard<std::mutex> lk(mu_);
  return requests_;
}

size_t HttpReceiver::request_count() const {
  std::lock_guard<std::mutex> lk(mu_);
  return requests_.size();
}

bool HttpReceiver::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lk(mu_);
  return arrived_.wait_for(lk, timeout, [&] { return requests_.size() >= n; });
}

HttpReply HttpReceiver::NextReply() {
  std::lock_guard<std::mutex> lk(mu_);
  if (script_.empty()) return default_reply_;
  HttpReply r = std::move(script_.front());
  script_.pop_front();
  return r;
}

void HttpReceiver::Run(int listen_fd, int stop_fd) {
  for (;;) {
    pollfd p[2] = {{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int n = ::poll(p, 2, 1000);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || p[1].revents) return;
    if (!p[0].revents) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Serve(fd, stop_fd);
    ::close(fd);
  }
}

void HttpReceiver::Serve(int fd, int stop_fd) {
  constexpr size_t kMax = 1 << 20;
  const int64_t deadline = UnixNowMs() + 5000;  // a request must arrive whole within 5 s
  std::string in;
  size_t header_end = std::string::npos;
  size_t content_length = 0;
  HttpRequest req;
  for (;;) {
    if (header_end == std::string::npos) {
      header_end = in.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::string_view head(in.data(), header_end);
        size_t line_end = head.find("\r\n");
        std::string_view request_line = head.substr(0, line_end);
        size_t sp1 = request_line.find(' ');
        size_t sp2 = request_line.find(' ', sp1 + 1);
        if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return;
        req.method = std::string(request_line.substr(0, sp1));
        req.path = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
        size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
        while (pos < head.size()) {
          size_t e = head.find("\r\n", pos);
          if (e == std::string_view::npos) e = head.size();
          std::string_view line = head.substr(pos, e - pos);
          size_t colon = line.find(':');
          if (colon != std::string_view::npos) {
            std::string_view v = line.substr(colon + 1);
            while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
            while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
            req.headers.emplace_back(std::string(line.substr(0, colon)), std::string(v));
          }
          pos = e + 2;
        }
        content_length = std::strtoul(req.Header("Content-Length").c_str(), nullptr, 10);
        if (content_length > kMax) return;
      }
    }
    if (header_end != std::string::npos && in.size() >= header_end + 4 + content_length) break;
    if (in.size() > kMax || !WaitReadable(fd, stop_fd, deadline)) return;
    char buf[16384];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    in.append(buf, static_cast<size_t>(n));
  }
  req.body = in.substr(header_end + 4, content_length);
  req.at_ms = UnixNowMs();
  {
    std::lock_guard<std::mutex> lk(mu_);
    requests_.push_back(req);
  }
  arrived_.notify_all();

  HttpReply reply = NextReply();
  if (reply.delay_ms > 0) {
    // Ends early when the client hangs up (POLLRDHUP) or on Stop.
    const int64_t until = UnixNowMs() + reply.delay_ms;
    for (int i = 0; i < 100000; ++i) {
      int64_t left = until - UnixNowMs();
      if (left <= 0) break;
      pollfd p[2] = {{fd, POLLRDHUP, 0}, {stop_fd, POLLIN, 0}};
      int n = ::poll(p, 2, static_cast<int>(std::min<int64_t>(left, 1000)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || p[1].revents || (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR))) return;
    }
  }
  std::string out =
      "HTTP/1.1 " + std::to_string(reply.status) + " " + Reason(reply.status) + "\r\n";
  for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
  if (reply.status != 204) out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  if (reply.status != 204) out += reply.body;
  SendAll(fd, out);
}

}  // namespace originwatch::testing
