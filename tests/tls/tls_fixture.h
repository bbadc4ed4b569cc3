// Shared setup of the tls tests: a per-test PKI whose root is the only CA of
// the client contexts, and a driver that runs a Handshake over a blocking
// loopback socket (the engine's io_uring loop, minus the ring).
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "support/pki.h"
#include "support/test_client.h"
#include "tls/context.h"
#include "tls/handshake.h"

namespace originwatch::testing {

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = std::make_unique<Pki>(Pki::Create());
    dir_ = std::filesystem::temp_directory_path() /
           ("ow-tls-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    ca_file_ = (dir_ / "ca.pem").string();
    ASSERT_TRUE(pki_->WriteRootPem(ca_file_));
    tls::ContextOptions options;
    options.ca_file = ca_file_;
    auto contexts = tls::ClientContexts::Create(options);
    ASSERT_TRUE(contexts.ok()) << contexts.status().message();
    contexts_ = std::move(contexts).value();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static ProbeSpec Spec(std::optional<std::string> sni, const std::string& profile = "modern") {
    ProbeSpec s;
    s.host = sni.value_or("origin.test");
    s.sni = std::move(sni);
    s.profile = profile;
    s.expect_names = {s.host};
    return s;
  }

  std::unique_ptr<tls::Handshake> NewHandshake(const ProbeSpec& spec) {
    SSL_CTX* ctx = contexts_->Find(spec.profile);
    EXPECT_NE(ctx, nullptr) << spec.profile;
    return std::make_unique<tls::Handshake>(ctx, spec, /*request_ocsp=*/true);
  }

  // Sends everything the handshake has to say.
  static bool Flush(tls::Handshake& hs, int fd) {
    uint8_t buf[16384];
    while (hs.PendingOutput() > 0) {
      size_t n = hs.TakeOutput(buf, sizeof(buf));
      if (::send(fd, buf, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) return false;
    }
    return true;
  }

  // Advance, send, receive, feed, until a final state; kNeedRead when the
  // socket timed out or failed first.
  static tls::Handshake::State RunOver(tls::Handshake& hs, int fd) {
    uint8_t buf[16384];
    for (int i = 0; i < 1000; ++i) {
      tls::Handshake::State st = hs.Advance();
      if (!Flush(hs, fd)) return st;
      if (st != tls::Handshake::State::kNeedRead) return st;
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n > 0) {
        hs.Feed(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        hs.FeedEof();
      } else {
        return st;
      }
    }
    return tls::Handshake::State::kNeedRead;
  }

  // A connected socket to address:port with 3 s send/receive timeouts.
  static int Connect(const std::string& address, uint16_t port) {
    int err = 0;
    int fd = ConnectTcp(address, port, 3000, &err);
    EXPECT_GE(fd, 0) << "connect: " << err;
    return fd;
  }

  std::unique_ptr<Pki> pki_;
  std::filesystem::path dir_;
  std::string ca_file_;
  std::unique_ptr<tls::ClientContexts> contexts_;
  static inline int counter_ = 0;
};

// Closes an fd at the end of a scope.
struct ScopedFd {
  int fd;
  explicit ScopedFd(int f) : fd(f) {}
  ~ScopedFd() {
    if (fd >= 0) ::close(fd);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
};

}  // namespace originwatch::testing
