#include "core/ring.h"

#include <cerrno>
#include <cstring>

namespace originwatch::core {

Result<std::unique_ptr<Ring>> Ring::Create(unsigned entries) {
  std::unique_ptr<Ring> ring(new Ring());
  struct Attempt {
    unsigned flags;
    const char* mode;
  };
  // DEFER_TASKRUN (Linux 6.1) runs completion work only when we ask for
  // events, on our thread: fewer interrupts for a loop that always waits.
  // It requires SINGLE_ISSUER (6.0). Older kernels reject unknown flags with
  // EINVAL, so fall back step by step.
  const Attempt attempts[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
       "single_issuer+defer_taskrun"},
      {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL, "coop_taskrun"},
      {0, "basic"},
  };
  int last = 0;
  for (const Attempt& a : attempts) {
    io_uring_params params{};
    params.flags = a.flags | IORING_SETUP_CQSIZE;
    params.cq_entries = entries * 4;
    int rc = io_uring_queue_init_params(entries, &ring->ring_, &params);
    if (rc == 0) {
      ring->initialized_ = true;
      ring->mode_ = a.mode;
      return ring;
    }
    last = -rc;
    if (last != EINVAL) break;
  }
  return Status::Unavailable(std::string("io_uring unavailable: io_uring_queue_init: ") +
                             std::strerror(last));
}

Ring::~Ring() {
  if (initialized_) io_uring_queue_exit(&ring_);
}

io_uring_sqe* Ring::GetSqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    int rc = io_uring_submit(&ring_);
    OW_CHECK(rc >= 0 || rc == -EAGAIN || rc == -EBUSY || rc == -EINTR);
    if (rc > 0) submitted_ += static_cast<uint64_t>(rc);
    sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // The kernel holds completions we have not reaped (CQ pressure): handle
      // them so that their owners can move on, then try again.
      Run(0);
      sqe = io_uring_get_sqe(&ring_);
    }
  }
  return sqe;
}

void Ring::Reserve(unsigned n) {
  for (int i = 0; i < 1000 && io_uring_sq_space_left(&ring_) < n; ++i) {
    int rc = io_uring_submit(&ring_);
    if (rc > 0) submitted_ += static_cast<uint64_t>(rc);
    if (io_uring_sq_space_left(&ring_) < n) Run(0);
  }
  OW_CHECK(io_uring_sq_space_left(&ring_) >= n);
}

int Ring::Run(int timeout_ms) {
  io_uring_cqe* cqe = nullptr;
  int rc;
  if (timeout_ms < 0) {
    rc = io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec ts = MsToTimespec(timeout_ms);
    rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  if (rc > 0) submitted_ += static_cast<uint64_t>(rc);
  // -ETIME: the wait timed out; -EINTR: a signal; both are normal.
  OW_CHECK(rc >= 0 || rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY);

  batch_.clear();
  unsigned head;
  unsigned count = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    batch_.push_back(*cqe);
    ++count;
  }
  io_uring_cq_advance(&ring_, count);
  // Handlers run after the CQ is advanced: they may queue SQEs and even call
  // GetSqe()->Run(0) without seeing these CQEs twice. Copy first: a nested
  // Run(0) from GetSqe reuses batch_.
  std::vector<io_uring_cqe> local;
  local.swap(batch_);
  for (const io_uring_cqe& c : local) {
    // Without IORING_FEAT_EXT_ARG (kernels before 5.11), liburing implements
    // the wait timeout with its own timeout SQE whose CQE carries
    // LIBURING_UDATA_TIMEOUT; it is skipped only at the head of the queue.
    if (c.user_data == LIBURING_UDATA_TIMEOUT) continue;
    auto* op = static_cast<Operation*>(io_uring_cqe_get_data(&c));
    if (op != nullptr && op->handler != nullptr) op->handler(op, c.res);
  }
  local.clear();
  if (batch_.capacity() < local.capacity()) batch_.swap(local);
  return static_cast<int>(count);
}

}  // namespace originwatch::core
