#include "agent/systemd_notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "originwatch/clock.h"
#include "originwatch/log.h"

namespace originwatch::agent_internal {

std::string NotifyStatusText(double probes_per_s, int64_t open_alerts, bool writable) {
  char rate[32];
  std::snprintf(rate, sizeof(rate), "%.1f", probes_per_s);
  std::string s = std::string(rate) + " probes/s, " + std::to_string(open_alerts) + " open alert" +
                  (open_alerts == 1 ? "" : "s");
  if (!writable) s += ", database unwritable";
  return s;
}

SystemdNotify::SystemdNotify() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && socket[0] != '\0';
  if (!enabled_) return;
  uint64_t usec = 0;
  // > 0: a watchdog for this process; the variables stay set (0) so that a
  // re-exec would see them too.
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_ms_ = static_cast<int64_t>(usec / 1000);
}

int64_t SystemdNotify::StuckAfterMs() const {
  if (watchdog_ms_ <= 0) return Liveness::kStuckAfterMs;
  return std::clamp<int64_t>(watchdog_ms_, 1, Liveness::kStuckAfterMs);
}

void SystemdNotify::Send(const std::string& state) {
  if (!enabled_) return;
  // unset_environment = 0: the agent may notify for its whole life.
  if (int r = sd_notify(0, state.c_str()); r < 0)
    Log(LogLevel::kDebug, "", "systemd notify failed: error " + std::to_string(-r));
}

void SystemdNotify::Ready(std::string status) {
  ready_ = true;
  last_status_ = std::move(status);
  Send("READY=1\nSTATUS=" + last_status_);
  next_status_ms_ = MonotonicMs() + kStatusEveryMs;
}

void SystemdNotify::Reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t usec = static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
  Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading the configuration");
  reloading_ = true;
}

void SystemdNotify::Stopping() { Send("STOPPING=1\nSTATUS=draining in-flight probes"); }

void SystemdNotify::Turn(int64_t now_mono_ms, const Liveness& liveness,
                         const std::function<std::string()>& status) {
  if (!enabled_ || !ready_) return;
  if (reloading_) {
    // Every reload path ends with its turn: applied or rejected, the agent
    // runs again.
    reloading_ = false;
    last_status_ = status();
    Send("READY=1\nSTATUS=" + last_status_);
    next_status_ms_ = now_mono_ms + kStatusEveryMs;
  }
  if (now_mono_ms >= next_status_ms_) {
    next_status_ms_ = now_mono_ms + kStatusEveryMs;
    std::string s = status();
    if (s != last_status_) {
      last_status_ = std::move(s);
      Send("STATUS=" + last_status_);
    }
  }
  if (watchdog_ms_ <= 0 || now_mono_ms < next_ping_ms_) return;
  const Liveness::Verdict v = liveness.Check(now_mono_ms);
  if (!v.ok) {
    if (!stuck_logged_)
      Log(LogLevel::kError, "", "watchdog: not notifying systemd while a loop is stuck: " + v.stuck);
    stuck_logged_ = true;
    return;  // checked again next turn
  }
  if (stuck_logged_) Log(LogLevel::kWarn, "", "watchdog: every loop turns again");
  stuck_logged_ = false;
  Send("WATCHDOG=1");
  next_ping_ms_ = now_mono_ms + std::max<int64_t>(watchdog_ms_ / 2, 1);
}

}  // namespace originwatch::agent_internal
