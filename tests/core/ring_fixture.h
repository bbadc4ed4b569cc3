// Shared by the core tests: a ring, or a skip where io_uring cannot be set up
// (a failure where ORIGINWATCH_REQUIRE_IO_URING is set, as in CI).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>

#include "core/ring.h"
#include "originwatch/status.h"

namespace originwatch::testing {

inline std::unique_ptr<core::Ring> MakeRing(core::RingOptions options = {.entries = 64}) {
  auto ring = core::Ring::Create(options);
  if (ring.ok()) return std::move(ring).value();
  if (ring.status().code() != Status::Code::kUnavailable ||
      std::getenv("ORIGINWATCH_REQUIRE_IO_URING") != nullptr) {
    ADD_FAILURE() << ring.status().message();
  }
  return nullptr;
}

}  // namespace originwatch::testing

#define OW_RING_OR_SKIP(var, ...)                                                      \
  auto var = ::originwatch::testing::MakeRing(__VA_ARGS__);                            \
  if (!var) {                                                                          \
    if (::testing::Test::HasFailure()) return;                                         \
    GTEST_SKIP() << "io_uring unavailable (set ORIGINWATCH_REQUIRE_IO_URING to fail)"; \
  }
