// systemd's notify protocol for `originwatch run` under Type=notify
// (sd_notify(3), libsystemd): READY=1 once the plan is built and the store is
// open, STATUS= with probes/s, open alerts and the database's health,
// WATCHDOG=1 at half of WatchdogSec= but only while no loop is stuck
// (Liveness), RELOADING=1 + MONOTONIC_USEC= on SIGHUP then READY=1 when the
// reload is done (or rejected), STOPPING=1 when the drain begins.
// Without NOTIFY_SOCKET every call is a no-op. docs/deploy.md shows the unit.
//
// Main thread only. Private to src/agent.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "agent/liveness.h"

namespace originwatch::agent_internal {

// What STATUS= says, one line: "12.5 probes/s, 2 open alerts" and, while
// the store cannot write, ", database unwritable".
std::string NotifyStatusText(double probes_per_s, int64_t open_alerts, bool writable);

class SystemdNotify {
 public:
  // How often STATUS= is refreshed.
  static constexpr int64_t kStatusEveryMs = 5000;

  // Reads NOTIFY_SOCKET and, through sd_watchdog_enabled, WATCHDOG_USEC and
  // WATCHDOG_PID (a WATCHDOG_PID naming another process: no watchdog).
  SystemdNotify();

  bool enabled() const { return enabled_; }
  // WatchdogSec= in ms; 0 without a watchdog.
  int64_t watchdog_ms() const { return watchdog_ms_; }
  // How long a loop may go without a beat before it is stuck: 30 s, or the
  // watchdog interval when that is shorter (a loop that missed a whole
  // interval is stuck).
  int64_t StuckAfterMs() const;

  // `status` is called for STATUS= (now and every kStatusEveryMs).
  void Ready(std::string status);
  void Reloading();
  void Stopping();
  // Each main-loop turn: READY=1 after a reload, STATUS= when due, and
  // WATCHDOG=1 at half the interval while liveness.Check says every loop turns.
  // A stuck loop is logged once (warn) when the pings stop, and when they resume.
  void Turn(int64_t now_mono_ms, const Liveness& liveness, const std::function<std::string()>& status);

 private:
  void Send(const std::string& state);

  bool enabled_ = false;
  int64_t watchdog_ms_ = 0;
  bool ready_ = false;
  bool reloading_ = false;
  bool stuck_logged_ = false;
  int64_t next_ping_ms_ = 0;
  int64_t next_status_ms_ = 0;
  std::string last_status_;
};

}  // namespace originwatch::agent_internal
