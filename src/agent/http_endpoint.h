// The agent's HTTP endpoint ([agent] listen): GET /metrics, /healthz,
// /api/v1/origins[/NAME], the status page (/ and /origin/NAME), and
// POST /-/reload. libmicrohttpd runs it on its own threads (an internal
// polling thread with a pool of 2, so /healthz answers while a reload is
// awaited); it never runs on an engine thread and never blocks the evaluator
// (it reads the Observatory's immutable snapshots).
//
// Bounds: 64 connections, 8 per client address, 10 s idle timeout, 16 KiB of
// request head per connection (MHD answers a larger head itself), 4 KiB of
// POST body. Only GET and HEAD (and POST for /-/reload): 405 for other
// methods on a known path, 404 for unknown paths.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "agent/liveness.h"
#include "agent/metrics.h"
#include "agent/observatory.h"
#include "agent/reload.h"
#include "originwatch/status.h"

struct MHD_Daemon;

namespace originwatch::agent_internal {

struct EndpointOptions {
  std::string listen;  // "127.0.0.1:9464", "[::1]:9464" ({shard} already substituted)
  bool metrics_per_variant = true;
  bool enable_reload = false;
  std::string db_path;  // read-only history of /origin/NAME (the store's reports)
};

// What the endpoint reads; every function is called from the endpoint's
// threads and must be thread-safe.
struct EndpointHooks {
  const Observatory* observatory = nullptr;
  std::function<AgentGauges()> gauges;
  std::function<Liveness::Verdict()> health;
  ReloadMailbox* reload = nullptr;
};

class HttpEndpoint {
 public:
  // Binds and starts serving. Errors: InvalidArgument for a listen address
  // that does not parse, IoError naming the address and errno for a socket,
  // bind or listen failure ("cannot listen on 127.0.0.1:9464: Address already
  // in use"), Internal when libmicrohttpd does not start.
  static Result<std::unique_ptr<HttpEndpoint>> Start(const EndpointOptions& options, EndpointHooks hooks);
  ~HttpEndpoint();  // Stop()
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  void Stop();
  uint16_t port() const { return port_; }
  // A reload may change these (listen itself needs a restart).
  void set_metrics_per_variant(bool v) { per_variant_.store(v); }
  void set_enable_reload(bool v) { enable_reload_.store(v); }

  struct Reply {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::string allow;  // the Allow header of a 405
  };
  // The routing, without sockets: method, path (already percent-decoded).
  Reply Handle(const std::string& method, const std::string& path);

 private:
  HttpEndpoint(EndpointOptions options, EndpointHooks hooks);

  EndpointOptions options_;
  EndpointHooks hooks_;
  std::atomic<bool> per_variant_;
  std::atomic<bool> enable_reload_;
  MHD_Daemon* daemon_ = nullptr;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace originwatch::agent_internal
