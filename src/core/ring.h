// Ring: one io_uring instance, owned by exactly one thread (the engine thread).
//
// Ownership and lifetime rules (liburing examples/echo-server.c, test/connect.c):
// - Every SQE carries an Operation* as user_data. The Operation, and any buffer
//   or sockaddr the SQE points to, must stay valid until its CQE arrives.
// - A deadline is a linked timeout (IOSQE_IO_LINK + IORING_OP_LINK_TIMEOUT):
//   both the operation and the timeout produce a CQE and both are awaited.
// - Completions are drained into a local batch first, the CQ is advanced, and
//   only then are handlers run, so a handler may queue new SQEs freely.
// Not thread-safe: SINGLE_ISSUER is requested when the kernel has it.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "originwatch/status.h"

namespace originwatch::core {

// What an SQE points back to. Handlers are noexcept: no exception crosses the loop.
struct Operation {
  using Handler = void (*)(Operation* op, int32_t res) noexcept;
  Handler handler = nullptr;
  void* owner = nullptr;
  int tag = 0;
};

class Ring {
 public:
  // entries: SQ size (CQ is twice that). Tries SINGLE_ISSUER|DEFER_TASKRUN,
  // then COOP_TASKRUN, then no flags. Unavailable when io_uring is missing or
  // disabled (ENOSYS, EPERM: kernel.io_uring_disabled, seccomp).
  static Result<std::unique_ptr<Ring>> Create(unsigned entries);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // A free SQE; submits queued SQEs first when the SQ is full. Never null.
  io_uring_sqe* GetSqe();
  // Makes room for n SQEs that must be submitted together (an operation and
  // its linked timeout: a link chain split across two submissions would lose
  // the link).
  void Reserve(unsigned n);
  void Prep(io_uring_sqe* sqe, Operation* op) { io_uring_sqe_set_data(sqe, op); }

  // Submits queued SQEs and waits up to timeout_ms (<0: forever, 0: no wait)
  // for at least one CQE, then runs the handlers of every available CQE.
  // Returns the number of completions handled.
  int Run(int timeout_ms);

  // "single_issuer+defer_taskrun", "coop_taskrun" or "basic".
  const std::string& mode() const { return mode_; }
  uint64_t submitted() const { return submitted_; }

 private:
  Ring() = default;
  io_uring ring_{};
  bool initialized_ = false;
  std::string mode_;
  uint64_t submitted_ = 0;
  std::vector<io_uring_cqe> batch_;
};

// Fills a __kernel_timespec for a relative timeout in milliseconds.
inline __kernel_timespec MsToTimespec(int64_t ms) {
  if (ms < 0) ms = 0;
  __kernel_timespec ts{};
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000;
  return ts;
}

}  // namespace originwatch::core
