#include "core/ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "originwatch/clock.h"

namespace originwatch::core {
namespace {

// An absolute CLOCK_MONOTONIC time, what IORING_TIMEOUT_ABS expects.
__kernel_timespec AbsTimespec(int64_t mono_ms) {
  if (mono_ms < 0) mono_ms = 0;
  __kernel_timespec ts{};
  ts.tv_sec = mono_ms / 1000;
  ts.tv_nsec = (mono_ms % 1000) * 1000000;
  return ts;
}

}  // namespace

Result<std::unique_ptr<Ring>> Ring::Create(const RingOptions& options) {
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
    params.cq_entries = options.entries * 4;
    int rc = io_uring_queue_init_params(options.entries, &ring->ring_, &params);
    if (rc == 0) {
      ring->initialized_ = true;
      ring->mode_ = a.mode;
      ring->absolute_timeouts_ =
          options.absolute_timeouts && ring->KernelTakesAbsoluteLinkTimeouts();
      return ring;
    }
    last = -rc;
    if (last != EINVAL) break;
  }
  return Status::Unavailable(std::string("io_uring unavailable: io_uring_queue_init: ") +
                             std::strerror(last));
}

// Linked timeouts have taken IORING_TIMEOUT_ABS since they exist (Linux 5.5:
// the link timeout shares the timeout's prep), but a kernel that refused the
// flag would fail every linked operation with -ECANCELED, which the engine
// would read as a timeout. So ask once: a NOP linked to an absolute timeout a
// minute away ends at once, with 0 and the timeout with -ECANCELED where the
// flag is taken; with -ECANCELED and -EINVAL where it is not. Both carry
// LIBURING_UDATA_TIMEOUT, which Run() skips, so nothing here can reach a
// handler whatever happens.
bool Ring::KernelTakesAbsoluteLinkTimeouts() {
  probe_ts_ = AbsTimespec(MonotonicMs() + 60000);
  io_uring_sqe* nop = io_uring_get_sqe(&ring_);
  io_uring_sqe* timeout = io_uring_get_sqe(&ring_);
  OW_CHECK(nop != nullptr && timeout != nullptr);
  io_uring_prep_nop(nop);
  nop->flags |= IOSQE_IO_LINK;
  nop->user_data = LIBURING_UDATA_TIMEOUT;
  io_uring_prep_link_timeout(timeout, &probe_ts_, IORING_TIMEOUT_ABS);
  timeout->user_data = LIBURING_UDATA_TIMEOUT;
  int rc = io_uring_submit(&ring_);
  if (rc != 2) return false;
  submitted_ += 2;
  bool accepted = true;
  for (int seen = 0; seen < 2;) {
    io_uring_cqe* cqe = nullptr;
    rc = io_uring_wait_cqe(&ring_, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) return false;
    if (cqe->res == -EINVAL) accepted = false;
    ++seen;
    io_uring_cqe_seen(&ring_, cqe);
  }
  return accepted;
}

Ring::~Ring() {
  if (buf_ring_ != nullptr) {
    if (initialized_) io_uring_unregister_buf_ring(&ring_, kBufferGroup);
    ::munmap(buf_ring_, buf_ring_bytes_);
    ::munmap(bufs_, static_cast<size_t>(buf_count_) * buf_size_);
  }
  if (initialized_) io_uring_queue_exit(&ring_);
}

Status Ring::SetupBuffers(unsigned count, unsigned size) {
  OW_CHECK(buf_ring_ == nullptr && count > 0 && count <= 32768 && (count & (count - 1)) == 0);
  // The ring of buffer descriptors must be page aligned: mmap gives that.
  // The buffers themselves are mapped but not touched: a page becomes
  // resident only once the kernel has written into it.
  const size_t ring_bytes = count * sizeof(io_uring_buf);
  void* r = ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) return Status::Unavailable("buffer ring: mmap failed");
  void* b = ::mmap(nullptr, static_cast<size_t>(count) * size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (b == MAP_FAILED) {
    ::munmap(r, ring_bytes);
    return Status::Unavailable("provided buffers: mmap failed");
  }
  auto* br = static_cast<io_uring_buf_ring*>(r);
  io_uring_buf_ring_init(br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(br);
  reg.ring_entries = count;
  reg.bgid = kBufferGroup;
  int rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc != 0) {
    ::munmap(r, ring_bytes);
    ::munmap(b, static_cast<size_t>(count) * size);
    return Status::Unavailable(std::string("buffer ring: ") + std::strerror(-rc));
  }
  buf_ring_ = br;
  buf_ring_bytes_ = ring_bytes;
  bufs_ = static_cast<uint8_t*>(b);
  buf_count_ = count;
  buf_size_ = size;
  const int mask = io_uring_buf_ring_mask(count);
  for (unsigned i = 0; i < count; ++i) {
    io_uring_buf_ring_add(br, Buffer(static_cast<uint16_t>(i)), size, static_cast<uint16_t>(i), mask,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(br, static_cast<int>(count));
  return Status::Ok();
}

void Ring::ReturnBuffer(uint16_t id) {
  OW_CHECK(buf_ring_ != nullptr && id < buf_count_);
  io_uring_buf_ring_add(buf_ring_, Buffer(id), buf_size_, id, io_uring_buf_ring_mask(buf_count_), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

void Ring::LinkDeadline(io_uring_sqe* sqe, int64_t deadline_ms, __kernel_timespec* ts,
                        Operation* timeout_op) {
  sqe->flags |= IOSQE_IO_LINK;
  io_uring_sqe* t = GetSqe();
  if (absolute_timeouts_) {
    *ts = AbsTimespec(deadline_ms);
    io_uring_prep_link_timeout(t, ts, IORING_TIMEOUT_ABS);
  } else {
    // Relative: the kernel starts counting when it reads the SQE, so the
    // duration is computed again right before each submission.
    *ts = MsToTimespec(deadline_ms - MonotonicMs());
    io_uring_prep_link_timeout(t, ts, 0);
    relative_.push_back({ts, deadline_ms, ring_.sq.sqe_tail - 1});
  }
  Prep(t, timeout_op);
}

void Ring::RefreshRelativeTimeouts() {
  if (relative_.empty()) return;
  const int64_t now = MonotonicMs();
  for (const Pending& p : relative_) *p.ts = MsToTimespec(p.deadline_ms - now);
}

int Ring::Submit() {
  RefreshRelativeTimeouts();
  int rc = io_uring_submit(&ring_);
  if (rc > 0) submitted_ += static_cast<uint64_t>(rc);
  ForgetSubmittedTimeouts();
  return rc;
}

void Ring::ForgetSubmittedTimeouts() {
  if (relative_.empty()) return;
  // The kernel has read every SQE before its head; what lies beyond (a
  // submission cut short by -EBUSY or -EAGAIN) is submitted later and is
  // refreshed again then. Positions are free-running unsigned counters.
  const unsigned head = io_uring_smp_load_acquire(ring_.sq.khead);
  size_t keep = 0;
  for (const Pending& p : relative_) {
    if (static_cast<int>(p.sq_index - head) >= 0) relative_[keep++] = p;
  }
  relative_.resize(keep);
}

io_uring_sqe* Ring::GetSqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  for (int i = 0; sqe == nullptr; ++i) {
    // The SQ is full: submit it and go on. The kernel refuses (-EBUSY) while
    // completions wait that it could not post (older kernels, CQ overflow),
    // and -EAGAIN when it is short of memory: reap, then try again.
    int rc = Submit();
    OW_CHECK(rc >= 0 || rc == -EAGAIN || rc == -EBUSY || rc == -EINTR);
    sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // The kernel holds completions we have not reaped (CQ pressure): handle
      // them so that their owners can move on, then try again.
      Run(0);
      sqe = io_uring_get_sqe(&ring_);
    }
    OW_CHECK(i < 100000);  // a ring that never takes an SQE is broken
  }
  return sqe;
}

void Ring::Reserve(unsigned n) {
  for (int i = 0; i < 100000 && io_uring_sq_space_left(&ring_) < n; ++i) {
    Submit();
    if (io_uring_sq_space_left(&ring_) < n) Run(0);
  }
  OW_CHECK(io_uring_sq_space_left(&ring_) >= n);
}

int Ring::Run(int timeout_ms) {
  io_uring_cqe* cqe = nullptr;
  int rc;
  RefreshRelativeTimeouts();
  if (timeout_ms < 0) {
    rc = io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec ts = MsToTimespec(timeout_ms);
    rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  // The batch's time: taken once, before any handler runs. Completions that
  // arrive while handlers run belong to the next batch and get its time.
  const int64_t reaped_ms = MonotonicMs();
  if (rc > 0) submitted_ += static_cast<uint64_t>(rc);
  ForgetSubmittedTimeouts();
  // -ETIME: the wait timed out; -EINTR: a signal; both are normal.
  OW_CHECK(rc >= 0 || rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY);

  batch_.clear();
  unsigned count = 0;
  // Drain the CQ; while the kernel says it holds overflowed completions,
  // flush them into the CQ (GETEVENTS) and drain again. Bounded: each round
  // takes a full CQ, and a kernel that keeps the flag set without posting
  // anything would be broken.
  for (int round = 0; round < 4096; ++round) {
    unsigned head;
    unsigned n = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      batch_.push_back(*cqe);
      ++n;
    }
    io_uring_cq_advance(&ring_, n);
    count += n;
    if (!io_uring_cq_has_overflow(&ring_)) break;
    ++overflow_flushes_;
    int frc = io_uring_get_events(&ring_);
    OW_CHECK(frc >= 0 || frc == -EINTR || frc == -EAGAIN || frc == -EBUSY);
  }
  reaped_ += count;
  // A submission the kernel refused while completions waited (-EBUSY on
  // kernels that will not post past an overflow, -EAGAIN when short of
  // memory): the CQ is drained now, so submit again before the handlers run.
  if ((rc == -EBUSY || rc == -EAGAIN) && io_uring_sq_ready(&ring_) > 0) Submit();
  // Handlers run after the CQ is advanced: they may queue SQEs and even call
  // GetSqe()->Run(0) without seeing these CQEs twice. Copy first: a nested
  // Run(0) from GetSqe reuses batch_ (and passes its own, later, time).
  std::vector<io_uring_cqe> local;
  local.swap(batch_);
  for (const io_uring_cqe& c : local) {
    // Without IORING_FEAT_EXT_ARG (kernels before 5.11), liburing implements
    // the wait timeout with its own timeout SQE whose CQE carries
    // LIBURING_UDATA_TIMEOUT; it is skipped only at the head of the queue.
    if (c.user_data == LIBURING_UDATA_TIMEOUT) continue;
    auto* op = static_cast<Operation*>(io_uring_cqe_get_data(&c));
    if (op == nullptr || op->handler == nullptr) continue;
    op->cqe_flags = c.flags;
    op->handler(op, c.res, reaped_ms);
  }
  local.clear();
  if (batch_.capacity() < local.capacity()) batch_.swap(local);
  return static_cast<int>(count);
}

}  // namespace originwatch::core
