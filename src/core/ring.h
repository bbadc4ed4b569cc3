// Ring: one io_uring instance, owned by exactly one thread (the engine thread).
//
// Ownership and lifetime rules (liburing examples/echo-server.c, test/connect.c):
// - Every SQE carries an Operation* as user_data. The Operation, and any buffer
//   or sockaddr the SQE points to, must stay valid until its CQE arrives.
// - A deadline is a linked timeout (IOSQE_IO_LINK + IORING_OP_LINK_TIMEOUT):
//   both the operation and the timeout produce a CQE and both are awaited.
// - Completions are drained into a local batch first, the CQ is advanced, and
//   only then are handlers run, so a handler may queue new SQEs freely.
//
// Time: one monotonic timestamp is taken when a batch is reaped, before any of
// its handlers runs, and every handler of the batch gets it. What one handler
// costs (a TLS handshake step, a callback) is then never counted in the
// durations of the other operations of the batch. Deadlines are absolute
// times on the same clock (MonotonicMs, CLOCK_MONOTONIC), never "n ms from
// whenever the SQE happens to be submitted".
//
// Overflow (IORING_FEAT_NODROP, Linux 5.5): when more completions arrive than
// the CQ holds, the kernel keeps the rest on its overflow list and sets
// IORING_SQ_CQ_OVERFLOW; they reach the CQ only when we enter the kernel with
// GETEVENTS. Run() keeps draining and flushing until the flag is clear, so no
// CQE is lost or left behind; an SQ fuller than one submission takes is
// submitted in as many steps as needed (GetSqe, Reserve).
//
// Provided buffers (Linux 5.19): SetupBuffers registers a ring of receive
// buffers that the kernel picks from when a recv with IOSQE_BUFFER_SELECT has
// data, so a buffer is held only from the completion until ReturnBuffer, not
// for as long as a peer keeps silent.
//
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
  // res: the CQE's result. reaped_ms: MonotonicMs() when the batch holding
  // this CQE was reaped (the operation ended no later than that).
  using Handler = void (*)(Operation* op, int32_t res, int64_t reaped_ms) noexcept;
  Handler handler = nullptr;
  void* owner = nullptr;
  int tag = 0;
  // The CQE's flags, set just before the handler runs (IORING_CQE_F_BUFFER
  // and the buffer id of a recv that picked a provided buffer).
  uint32_t cqe_flags = 0;
};

struct RingOptions {
  unsigned entries = 4096;  // SQ size (the CQ has four times as many)
  // Deadlines as IORING_TIMEOUT_ABS linked timeouts when the kernel takes
  // them. false forces the relative fallback (tests of the fallback).
  bool absolute_timeouts = true;
};

class Ring {
 public:
  // Tries SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN, then no flags.
  // Unavailable when io_uring is missing or disabled (ENOSYS, EPERM:
  // kernel.io_uring_disabled, seccomp).
  static Result<std::unique_ptr<Ring>> Create(const RingOptions& options);
  static Result<std::unique_ptr<Ring>> Create(unsigned entries) {
    return Create(RingOptions{.entries = entries});
  }
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

  // Links a deadline to `sqe` (already prepared, not yet submitted): sets
  // IOSQE_IO_LINK on it and queues an IORING_OP_LINK_TIMEOUT that ends it at
  // deadline_ms (MonotonicMs time; already past = at once). The kernel answers
  // the operation with -ECANCELED when the deadline came first, and the
  // timeout itself with -ETIME (fired) or -ECANCELED (the operation ended
  // first): two CQEs, the second to `timeout_op`. *ts is read by the kernel
  // when the SQEs are submitted, and must stay valid until then. Call
  // Reserve(2) before preparing `sqe`.
  void LinkDeadline(io_uring_sqe* sqe, int64_t deadline_ms, __kernel_timespec* ts,
                    Operation* timeout_op);

  // Submits queued SQEs and waits up to timeout_ms (<0: forever, 0: no wait)
  // for at least one CQE, then runs the handlers of every available CQE.
  // Returns the number of completions handled.
  int Run(int timeout_ms);

  // "single_issuer+defer_taskrun", "coop_taskrun" or "basic".
  // Registers `count` (a power of two, at most 32768) provided buffers of
  // `size` bytes as buffer group buffer_group(). Unavailable on kernels
  // without buffer rings (before 5.19); the caller then uses its own buffers.
  Status SetupBuffers(unsigned count, unsigned size);
  bool has_buffers() const { return buf_ring_ != nullptr; }
  static constexpr uint16_t buffer_group() { return kBufferGroup; }
  unsigned buffer_size() const { return buf_size_; }
  // The buffer a completion picked: its flags carry IORING_CQE_F_BUFFER and
  // the id. Every picked buffer goes back with ReturnBuffer, once, whatever
  // the completion's result.
  static bool PickedBuffer(uint32_t cqe_flags, uint16_t* id) {
    if ((cqe_flags & IORING_CQE_F_BUFFER) == 0) return false;
    *id = static_cast<uint16_t>(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
    return true;
  }
  uint8_t* Buffer(uint16_t id) { return bufs_ + static_cast<size_t>(id) * buf_size_; }
  void ReturnBuffer(uint16_t id);
  // Completions reaped so far, and how many of them came through the
  // kernel's overflow list (reaped after an IORING_SQ_CQ_OVERFLOW flush).
  uint64_t reaped() const { return reaped_; }
  uint64_t overflow_flushes() const { return overflow_flushes_; }

  const std::string& mode() const { return mode_; }
  // Whether deadlines go to the kernel as absolute times (IORING_TIMEOUT_ABS).
  bool absolute_timeouts() const { return absolute_timeouts_; }
  uint64_t submitted() const { return submitted_; }

 private:
  Ring() = default;
  bool KernelTakesAbsoluteLinkTimeouts();
  int Submit();
  void RefreshRelativeTimeouts();
  void ForgetSubmittedTimeouts();

  static constexpr uint16_t kBufferGroup = 1;

  io_uring ring_{};
  bool initialized_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  uint8_t* bufs_ = nullptr;
  unsigned buf_count_ = 0;
  unsigned buf_size_ = 0;
  uint64_t reaped_ = 0;
  uint64_t overflow_flushes_ = 0;
  std::string mode_;
  bool absolute_timeouts_ = false;
  uint64_t submitted_ = 0;
  std::vector<io_uring_cqe> batch_;
  // Fallback without IORING_TIMEOUT_ABS: the timeouts not yet read by the
  // kernel, made relative again just before each submission.
  struct Pending {
    __kernel_timespec* ts;
    int64_t deadline_ms;
    unsigned sq_index;  // the timeout SQE's position in the SQ (free-running)
  };
  std::vector<Pending> relative_;
  __kernel_timespec probe_ts_{};  // KernelTakesAbsoluteLinkTimeouts()
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
