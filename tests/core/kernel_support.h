// What the running kernel's io_uring accepts, found out directly with liburing
// (never through core::Ring), so that tests can hold the ring's own reports
// against it.
#pragma once

#include <liburing.h>
#include <time.h>

#include <cerrno>

namespace originwatch::testing {

// Whether io_uring_queue_init_params accepts these setup flags here.
inline bool KernelAcceptsRingFlags(unsigned flags) {
  io_uring ring{};
  io_uring_params params{};
  params.flags = flags;
  if (io_uring_queue_init_params(8, &ring, &params) != 0) return false;
  io_uring_queue_exit(&ring);
  return true;
}

inline bool KernelHasDeferTaskrun() {
  return KernelAcceptsRingFlags(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
}

inline bool KernelHasCoopTaskrun() { return KernelAcceptsRingFlags(IORING_SETUP_COOP_TASKRUN); }

// Whether a linked timeout with IORING_TIMEOUT_ABS is accepted: a NOP linked
// to one an hour away must end with 0, the timeout with -ECANCELED (a refused
// flag fails the link: -ECANCELED and -EINVAL).
inline bool KernelTakesAbsoluteLinkTimeouts() {
  io_uring ring{};
  if (io_uring_queue_init(4, &ring, 0) != 0) return false;
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  __kernel_timespec at{};
  at.tv_sec = now.tv_sec + 3600;
  io_uring_sqe* nop = io_uring_get_sqe(&ring);
  io_uring_prep_nop(nop);
  nop->flags |= IOSQE_IO_LINK;
  nop->user_data = 1;
  io_uring_sqe* timeout = io_uring_get_sqe(&ring);
  io_uring_prep_link_timeout(timeout, &at, IORING_TIMEOUT_ABS);
  timeout->user_data = 2;
  bool nop_ok = false, timeout_ok = false;
  if (io_uring_submit_and_wait(&ring, 2) >= 0) {
    for (int i = 0; i < 2; ++i) {
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe(&ring, &cqe) != 0) break;
      if (cqe->user_data == 1) nop_ok = cqe->res == 0;
      if (cqe->user_data == 2) timeout_ok = cqe->res == -ECANCELED;
      io_uring_cqe_seen(&ring, cqe);
    }
  }
  io_uring_queue_exit(&ring);
  return nop_ok && timeout_ok;
}

}  // namespace originwatch::testing
