// Proves that `originwatch run` speaks systemd's notify protocol on a
// NOTIFY_SOCKET the test creates: READY=1 with STATUS=, WATCHDOG=1 at half of
// WATCHDOG_USEC, RELOADING=1 + MONOTONIC_USEC= then READY=1 on SIGHUP,
// STOPPING=1 on SIGTERM; and that a stalled engine thread stops the pings.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "integration/ops_fixture.h"

namespace originwatch::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct Message {
  int64_t at_ms = 0;  // since the test's start
  std::string text;
};

class SystemdNotifyTest : public OpsTest {
 protected:
  void SetUp() override {
    OpsTest::SetUp();
    socket_path_ = (dir_ / "notify.sock").string();
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    ASSERT_LT(socket_path_.size(), sizeof(a.sun_path));
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", socket_path_.c_str());
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << socket_path_;
    t0_ = Clock::now();
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
    OpsTest::TearDown();
  }

  // The agent with NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the shell
  // sets it to its own pid, which exec keeps), as systemd starts it.
  bool StartAgent(int64_t watchdog_usec, const std::string& stall_ms = "") {
    setenv("NOTIFY_SOCKET", socket_path_.c_str(), 1);
    setenv("WATCHDOG_USEC", std::to_string(watchdog_usec).c_str(), 1);
    if (!stall_ms.empty()) setenv("ORIGINWATCH_TEST_STALL_ENGINE_MS", stall_ms.c_str(), 1);
    const bool ok = agent_.Start({"/bin/sh", "-c", "WATCHDOG_PID=$$; export WATCHDOG_PID; exec \"$0\" \"$@\"",
                                  OW_BINARY, "run", "-c", config_},
                                 log_);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("ORIGINWATCH_TEST_STALL_ENGINE_MS");
    return ok;
  }

  // Receives datagrams until `until` returns true for one, or timeout passes.
  bool ReceiveUntil(const std::function<bool(const Message&)>& until, milliseconds timeout) {
    const auto end = Clock::now() + timeout;
    while (Clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      const int left = static_cast<int>(std::chrono::duration_cast<milliseconds>(end - Clock::now()).count());
      if (::poll(&p, 1, std::max(left, 0)) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) continue;
      Message m{std::chrono::duration_cast<milliseconds>(Clock::now() - t0_).count(),
                std::string(buf, static_cast<size_t>(n))};
      messages_.push_back(m);
      if (until(m)) return true;
    }
    return false;
  }

  static bool Has(const Message& m, const std::string& line) {
    return ("\n" + m.text + "\n").find("\n" + line) != std::string::npos;
  }

  // The longest time between two WATCHDOG=1 from index `from` on.
  int64_t LongestPingGapMs(size_t from, int* pings) const {
    int64_t last = -1, gap = 0;
    *pings = 0;
    for (size_t i = from; i < messages_.size(); ++i) {
      if (!Has(messages_[i], "WATCHDOG=1")) continue;
      ++*pings;
      if (last >= 0) gap = std::max(gap, messages_[i].at_ms - last);
      last = messages_[i].at_ms;
    }
    return gap;
  }

  std::string Dump() const {
    std::string s;
    for (const Message& m : messages_) s += std::to_string(m.at_ms) + " ms: " + m.text + " | ";
    std::replace(s.begin(), s.end(), '\n', ';');
    return s;
  }

  std::string socket_path_;
  int fd_ = -1;
  Clock::time_point t0_;
  std::vector<Message> messages_;
  AgentProcess agent_;
};

TEST_F(SystemdNotifyTest, ReadyStatusWatchdogReloadingAndStoppingReachTheSocket) {
  WriteConfig(Agent(db_) + Origin("healthy") + Origin("refused"));
  ASSERT_TRUE(StartAgent(2000000));

  ASSERT_TRUE(ReceiveUntil([](const Message& m) { return Has(m, "READY=1"); }, milliseconds(20000)))
      << Dump() << agent_.Log();
  const Message ready = messages_.back();
  EXPECT_TRUE(Has(ready, "STATUS=")) << ready.text;
  EXPECT_NE(ready.text.find("probes/s"), std::string::npos) << ready.text;
  EXPECT_NE(ready.text.find("open alert"), std::string::npos) << ready.text;

  // WATCHDOG_USEC = 2 s: a ping every second; 4 s bring at least 3.
  const size_t after_ready = messages_.size();
  ReceiveUntil([](const Message&) { return false; }, milliseconds(4000));
  int pings = 0;
  const int64_t gap = LongestPingGapMs(after_ready, &pings);
  EXPECT_GE(pings, 3) << Dump();
  EXPECT_LT(gap, 2000) << Dump();  // never a whole interval without one

  // STATUS= is refreshed every 5 s with the probes per second.
  ASSERT_TRUE(ReceiveUntil([](const Message& m) { return m.text.rfind("STATUS=", 0) == 0; }, milliseconds(10000)))
      << Dump();
  EXPECT_NE(messages_.back().text.find(" probes/s, "), std::string::npos) << messages_.back().text;
  EXPECT_EQ(messages_.back().text.find("0.0 probes/s"), std::string::npos) << messages_.back().text;

  agent_.Signal(SIGHUP);
  ASSERT_TRUE(ReceiveUntil([](const Message& m) { return Has(m, "RELOADING=1"); }, milliseconds(10000))) << Dump();
  const Message reloading = messages_.back();
  const size_t at = reloading.text.find("MONOTONIC_USEC=");
  ASSERT_NE(at, std::string::npos) << reloading.text;
  const long long usec = std::atoll(reloading.text.c_str() + at + 15);
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long now_usec = static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
  EXPECT_GT(usec, now_usec - 10000000) << reloading.text;  // CLOCK_MONOTONIC of the last 10 s
  EXPECT_LE(usec, now_usec) << reloading.text;
  ASSERT_TRUE(ReceiveUntil([](const Message& m) { return Has(m, "READY=1"); }, milliseconds(10000))) << Dump();

  agent_.Signal(SIGTERM);
  ASSERT_TRUE(ReceiveUntil([](const Message& m) { return Has(m, "STOPPING=1"); }, milliseconds(10000))) << Dump();
  EXPECT_EQ(agent_.Wait(milliseconds(20000)), 0) << agent_.Log();
  std::cout << "notifications: " << Dump() << "\n";
}

TEST_F(SystemdNotifyTest, AStalledEngineThreadStopsTheWatchdogPingsUntilItTurnsAgain) {
  WriteConfig(Agent(db_) + Origin("healthy"));
  // Engine 0 sleeps 4 s, 2 s after it starts; with a 1 s watchdog it is stuck
  // after 1 s of that, so about 3 s pass without a ping.
  ASSERT_TRUE(StartAgent(1000000, "4000"));
  ASSERT_TRUE(ReceiveUntil([](const Message& m) { return Has(m, "READY=1"); }, milliseconds(20000)))
      << Dump() << agent_.Log();
  const size_t after_ready = messages_.size();
  ReceiveUntil([](const Message&) { return false; }, milliseconds(9000));
  int pings = 0;
  const int64_t gap = LongestPingGapMs(after_ready, &pings);
  EXPECT_GE(gap, 2500) << Dump();
  EXPECT_LT(gap, 5000) << Dump();  // pings resume once the thread turns again
  // Pings before and after the stall.
  EXPECT_GE(pings, 4) << Dump();
  std::cout << "longest time without WATCHDOG=1: " << gap << " ms (" << pings << " pings in 9 s)\n";
  agent_.Signal(SIGTERM);
  EXPECT_EQ(agent_.Wait(milliseconds(20000)), 0) << agent_.Log();
  EXPECT_NE(agent_.Log().find("watchdog: not notifying systemd while a loop is stuck: engine-0"), std::string::npos)
      << agent_.Log();
  EXPECT_NE(agent_.Log().find("watchdog: every loop turns again"), std::string::npos) << agent_.Log();
}

}  // namespace
}  // namespace originwatch::testing
