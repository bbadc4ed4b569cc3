// A real HTTP/1.1 server on 127.0.0.1 for webhook tests: one thread, one
// connection at a time, every request recorded (method, path, headers, body,
// arrival time), answers taken from a script. Stop() closes the port (clients
// get "connection refused") and Start(port()) opens it again, to play an
// endpoint that is down and comes back.
//
// Each answer closes its connection ("Connection: close"). A scripted delay
// ends early when the client hangs up (it timed out), so a slow answer does not
// hold back the next request.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "originwatch/status.h"

namespace originwatch::testing {

struct HttpRequest {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;  // as received
  std::string body;
  int64_t at_ms = 0;  // arrival (system clock, unix ms)
  // The first header of that name (case-insensitive); "" when absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
};

struct HttpReply {
  int status = 200;
  int64_t delay_ms = 0;  // wait before answering
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class HttpReceiver {
 public:
  HttpReceiver() = default;
  ~HttpReceiver();  // Stop()
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  // Listens on 127.0.0.1:port (0 = any free port; the chosen one is kept for
  // the next Start) and starts the thread.
  Status Start(uint16_t port = 0);
  // Closes the listening socket and the connection in progress, joins the thread.
  // Recorded requests and the script are kept. Idempotent.
  void Stop();

  uint16_t port() const { return port_; }
  std::string Url(std::string_view path = "/hook") const;

  // Answers for the next requests, in order; then the default (200, no delay).
  void Script(std::vector<HttpReply> replies);
  void SetDefault(HttpReply reply);

  std::vector<HttpRequest> requests() const;
  size_t request_count() const;
  // Waits until at least n requests were recorded; false at the deadline.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;

 private:
  void Run(int listen_fd, int stop_fd);
  void Serve(int fd, int stop_fd);
  HttpReply NextReply();

  mutable std::mutex mu_;
  mutable std::condition_variable arrived_;
  std::vector<HttpRequest> requests_;
  std::deque<HttpReply> script_;
  HttpReply default_reply_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: wakes the thread out of poll
  std::thread thread_;
};

}  // namespace originwatch::testing
