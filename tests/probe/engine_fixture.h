// Shared setup for tests that drive the real engine against real TLS servers on
// loopback: a per-test PKI whose root is written to a temporary CA file.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "originwatch/engine.h"
#include "support/pki.h"

namespace originwatch::testing {

// Creates an engine trusting ca_file. When io_uring cannot be set up the test
// is skipped on a developer machine, and fails where ORIGINWATCH_REQUIRE_IO_URING
// is set (CI): an unavailable ring must never pass silently there.
inline std::unique_ptr<Engine> MakeEngine(const std::string& ca_file, EngineOptions opts = {}) {
  opts.ca_file = ca_file;
  auto engine = Engine::Create(opts);
  if (!engine.ok()) {
    if (engine.status().code() == Status::Code::kUnavailable &&
        std::getenv("ORIGINWATCH_REQUIRE_IO_URING") == nullptr) {
      return nullptr;
    }
    ADD_FAILURE() << "Engine::Create: " << engine.status().message();
    return nullptr;
  }
  return std::move(engine).value();
}

#define OW_ENGINE_OR_SKIP(var, ...)                                              \
  auto var = ::originwatch::testing::MakeEngine(__VA_ARGS__);                    \
  if (!var) {                                                                    \
    if (::testing::Test::HasFailure()) return;                                   \
    GTEST_SKIP() << "io_uring unavailable (set ORIGINWATCH_REQUIRE_IO_URING to fail)"; \
  }

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = std::make_unique<Pki>(Pki::Create());
    dir_ = std::filesystem::temp_directory_path() /
           ("ow-engine-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    ca_file_ = (dir_ / "ca.pem").string();
    ASSERT_TRUE(pki_->WriteRootPem(ca_file_));
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static ProbeSpec Spec(const std::string& address, uint16_t port, std::optional<std::string> sni,
                        const std::string& profile = "modern", int timeout_ms = 3000) {
    ProbeSpec s;
    s.origin = "test";
    s.host = sni.value_or("origin.test");
    s.address = address;
    s.port = port;
    s.sni = std::move(sni);
    s.profile = profile;
    s.expect_names = {s.host};
    s.timeout_ms = timeout_ms;
    s.connect_timeout_ms = std::min(timeout_ms, 2000);
    return s;
  }

  std::unique_ptr<Pki> pki_;
  std::filesystem::path dir_;
  std::string ca_file_;
  static inline int counter_ = 0;
};

}  // namespace originwatch::testing
