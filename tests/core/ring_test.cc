// Proves that the ring reports the setup the kernel really gave it, completes
// operations and timeouts, ends a blocked read at its absolute deadline however
// late it is submitted (with IORING_TIMEOUT_ABS and with the relative fallback),
// stamps every completion of a batch with the batch's reap time, and owns no fd
// beyond its life.
#include "core/ring.h"
#include "ring_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core/kernel_support.h"
#include "originwatch/clock.h"
#include "support/fds.h"

namespace originwatch::testing {
namespace {


// What one operation saw: its result and its batch's time.
struct Seen {
  core::Operation op;
  int calls = 0;
  int32_t res = 0;
  int64_t reaped_ms = -1;
  int64_t handler_started_ms = -1;
  int64_t burn_ms = 0;  // CPU the handler burns, as a slow callback would

  Seen() { op = {&Seen::Handle, this, 0}; }
  static void Handle(core::Operation* op, int32_t res, int64_t reaped_ms) noexcept {
    auto* s = static_cast<Seen*>(op->owner);
    s->handler_started_ms = MonotonicMs();
    ++s->calls;
    s->res = res;
    s->reaped_ms = reaped_ms;
    const int64_t until = MonotonicMs() + s->burn_ms;
    while (MonotonicMs() < until) {
    }
  }
};

// Runs the ring until every one of seen has been called once (bounded).
void RunUntil(core::Ring& ring, std::vector<Seen*> seen) {
  for (int i = 0; i < 100; ++i) {
    bool all = true;
    for (Seen* s : seen) all = all && s->calls > 0;
    if (all) return;
    ring.Run(1000);
  }
  ADD_FAILURE() << "operations did not complete";
}

struct SocketPair {
  int fd[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0); }
  ~SocketPair() {
    for (int f : fd) {
      if (f >= 0) ::close(f);
    }
  }
};

TEST(RingTest, ReportsTheSetupModeTheKernelTakes) {
  OW_RING_OR_SKIP(ring);
  // The kernel is asked directly, with liburing alone.
  if (KernelHasDeferTaskrun()) {
    EXPECT_EQ(ring->mode(), "single_issuer+defer_taskrun");
  } else if (KernelHasCoopTaskrun()) {
    EXPECT_EQ(ring->mode(), "coop_taskrun");
  } else {
    EXPECT_EQ(ring->mode(), "basic");
  }
}

TEST(RingTest, UsesAbsoluteDeadlinesWhereTheKernelTakesThem) {
  OW_RING_OR_SKIP(ring);
  EXPECT_EQ(ring->absolute_timeouts(), KernelTakesAbsoluteLinkTimeouts());
  OW_RING_OR_SKIP(fallback, core::RingOptions{.entries = 64, .absolute_timeouts = false});
  EXPECT_FALSE(fallback->absolute_timeouts());
}

TEST(RingTest, NopCompletesAndItsHandlerRunsOnce) {
  OW_RING_OR_SKIP(ring);
  Seen nop;
  io_uring_sqe* sqe = ring->GetSqe();
  io_uring_prep_nop(sqe);
  ring->Prep(sqe, &nop.op);
  const int64_t before = MonotonicMs();
  RunUntil(*ring, {&nop});
  EXPECT_EQ(nop.calls, 1);
  EXPECT_EQ(nop.res, 0);
  EXPECT_GE(nop.reaped_ms, before);
  EXPECT_EQ(ring->Run(0), 0);  // nothing left, nothing handled twice
  EXPECT_EQ(nop.calls, 1);
}

TEST(RingTest, TimeoutOperationEndsWithEtimeNoSooner) {
  OW_RING_OR_SKIP(ring);
  Seen timeout;
  __kernel_timespec ts = core::MsToTimespec(50);
  const int64_t before = MonotonicMs();
  io_uring_sqe* sqe = ring->GetSqe();
  io_uring_prep_timeout(sqe, &ts, 0, 0);
  ring->Prep(sqe, &timeout.op);
  RunUntil(*ring, {&timeout});
  EXPECT_EQ(timeout.res, -ETIME);
  EXPECT_GE(timeout.reaped_ms - before, 50);
}

TEST(RingTest, EveryCompletionOfABatchGetsTheBatchsReapTime) {
  OW_RING_OR_SKIP(ring);
  // Three NOPs complete at submission, in one batch. The first handler burns
  // 200 ms: the others still get the time the batch was reaped, not the time
  // their handler happened to run.
  Seen first, second, third;
  first.burn_ms = 200;
  for (Seen* s : {&first, &second, &third}) {
    io_uring_sqe* sqe = ring->GetSqe();
    io_uring_prep_nop(sqe);
    ring->Prep(sqe, &s->op);
  }
  EXPECT_EQ(ring->Run(1000), 3);
  ASSERT_EQ(third.calls, 1);
  EXPECT_EQ(second.reaped_ms, first.reaped_ms);
  EXPECT_EQ(third.reaped_ms, first.reaped_ms);
  EXPECT_LE(first.reaped_ms, first.handler_started_ms);
  EXPECT_GE(second.handler_started_ms - second.reaped_ms, 200);
}

class DeadlineTest : public ::testing::TestWithParam<bool> {};

// A read on a socketpair that never gets a byte, linked to a deadline.
struct BlockedRead {
  SocketPair pair;
  char buf[16];
  Seen read, timeout;
  __kernel_timespec ts{};

  void Prepare(core::Ring& ring, int64_t deadline_ms) {
    ring.Reserve(2);
    io_uring_sqe* sqe = ring.GetSqe();
    io_uring_prep_recv(sqe, pair.fd[0], buf, sizeof(buf), 0);
    ring.Prep(sqe, &read.op);
    ring.LinkDeadline(sqe, deadline_ms, &ts, &timeout.op);
  }
};

TEST_P(DeadlineTest, LinkedDeadlineCancelsABlockedRead) {
  OW_RING_OR_SKIP(ring, core::RingOptions{.entries = 64, .absolute_timeouts = GetParam()});
  BlockedRead b;
  const int64_t deadline = MonotonicMs() + 100;
  b.Prepare(*ring, deadline);
  RunUntil(*ring, {&b.read, &b.timeout});
  EXPECT_EQ(b.read.res, -ECANCELED);
  EXPECT_EQ(b.timeout.res, -ETIME);
  EXPECT_GE(b.read.reaped_ms, deadline);
}

TEST_P(DeadlineTest, ReadThatCompletesFirstCancelsItsDeadline) {
  OW_RING_OR_SKIP(ring, core::RingOptions{.entries = 64, .absolute_timeouts = GetParam()});
  BlockedRead b;
  ASSERT_EQ(::write(b.pair.fd[1], "hello", 5), 5);
  b.Prepare(*ring, MonotonicMs() + 10000);
  RunUntil(*ring, {&b.read, &b.timeout});
  EXPECT_EQ(b.read.res, 5);
  EXPECT_EQ(b.timeout.res, -ECANCELED);
}

TEST_P(DeadlineTest, LateSubmissionDoesNotMoveTheDeadline) {
  OW_RING_OR_SKIP(ring, core::RingOptions{.entries = 64, .absolute_timeouts = GetParam()});
  constexpr int64_t kLateMs = 300;
  BlockedRead b;
  const int64_t deadline = MonotonicMs() + 400;
  b.Prepare(*ring, deadline);
  // The loop is busy elsewhere: the SQEs reach the kernel kLateMs later.
  std::this_thread::sleep_for(std::chrono::milliseconds(kLateMs));
  RunUntil(*ring, {&b.read, &b.timeout});
  EXPECT_EQ(b.read.res, -ECANCELED);
  EXPECT_GE(b.read.reaped_ms, deadline);
  // Counted from the submission it would end near deadline + kLateMs.
  EXPECT_LT(b.read.reaped_ms, deadline + kLateMs / 2);
}

TEST_P(DeadlineTest, DeadlineAlreadyPastEndsTheReadAtOnce) {
  OW_RING_OR_SKIP(ring, core::RingOptions{.entries = 64, .absolute_timeouts = GetParam()});
  BlockedRead b;
  b.Prepare(*ring, MonotonicMs() - 1000);
  RunUntil(*ring, {&b.read, &b.timeout});
  EXPECT_EQ(b.read.res, -ECANCELED);
  EXPECT_EQ(b.timeout.res, -ETIME);
}

INSTANTIATE_TEST_SUITE_P(AbsoluteAndRelative, DeadlineTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Absolute" : "RelativeFallback";
                         });

TEST(RingTest, FullSubmissionQueueNeverLosesAnOperation) {
  OW_RING_OR_SKIP(ring, core::RingOptions{.entries = 4});
  std::vector<Seen> nops(50);
  for (Seen& s : nops) {
    io_uring_sqe* sqe = ring->GetSqe();  // submits when the 4 slots are taken
    ASSERT_NE(sqe, nullptr);
    io_uring_prep_nop(sqe);
    ring->Prep(sqe, &s.op);
  }
  std::vector<Seen*> all;
  for (Seen& s : nops) all.push_back(&s);
  RunUntil(*ring, all);
  for (const Seen& s : nops) EXPECT_EQ(s.calls, 1);
}

TEST(RingTest, CloseOperationReleasesTheFdAndTheRingReleasesItsOwn) {
  const int fds_before = CountOpenFds();
  {
    OW_RING_OR_SKIP(ring);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ::close(fds[1]);
    // The engine hands its sockets to the kernel to close: after the CQE the
    // descriptor is gone.
    Seen closed;
    io_uring_sqe* sqe = ring->GetSqe();
    io_uring_prep_close(sqe, fds[0]);
    ring->Prep(sqe, &closed.op);
    RunUntil(*ring, {&closed});
    EXPECT_EQ(closed.res, 0);
    EXPECT_EQ(::fcntl(fds[0], F_GETFD), -1);
    EXPECT_EQ(errno, EBADF);
  }
  // The ring's own descriptor ends with it.
  EXPECT_EQ(CountOpenFds(), fds_before);
}

}  // namespace
}  // namespace originwatch::testing
