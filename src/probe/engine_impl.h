// The engine's shared state (Engine::Impl), for engine.cc (the connections)
// and engine_api.cc (creation and the public methods). Private to src/probe.
#pragma once

#include <deque>
#include <memory>
#include <vector>

#include "core/ring.h"
#include "originwatch/engine.h"
#include "tls/context.h"

namespace originwatch {

struct Conn;

class Engine::Impl {
 public:
  Impl(EngineOptions options, std::unique_ptr<core::Ring> ring,
       std::unique_ptr<tls::ClientContexts> contexts);

  void Submit(ProbeSpec spec, Callback cb);
  int Poll(int timeout_ms);
  void Deliver(Conn* c);

  EngineOptions options_;
  std::unique_ptr<core::Ring> ring_;
  std::unique_ptr<tls::ClientContexts> contexts_;
  EngineStats stats_;
  int completed_this_poll_ = 0;
  std::vector<Conn*> deferred_;  // ended before any I/O; delivered by Poll
  bool provided_buffers_ = false;
  unsigned buffer_count_ = 0;
  std::deque<Conn*> starved_;  // their recv found no provided buffer (-ENOBUFS)
  void IssueStarved();
};

}  // namespace originwatch
