// What the running kernel's io_uring accepts, found out directly with liburing
// (never through core::Ring), so that tests can hold the ring's own reports
// against it.
#pragma once

#include <liburing.h>

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

}  // namespace originwatch::testing
