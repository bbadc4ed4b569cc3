// Liveness: whether the agent's loops still turn. Each loop (the main loop,
// every engine thread, the evaluator) beats after each turn; a loop that has
// not beaten for `stuck_after_ms` is stuck. The systemd watchdog (WATCHDOG=1
// is sent only while no loop is stuck) and GET /healthz (200, else 503) ask
// the same question, so a stuck engine thread is restarted by systemd and
// reported by the endpoint alike.
//
// Thread-safe: Beat is one relaxed atomic store; Check reads every slot.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace originwatch::agent_internal {

class Liveness {
 public:
  static constexpr int64_t kStuckAfterMs = 30000;

  explicit Liveness(int64_t stuck_after_ms = kStuckAfterMs) : stuck_after_ms_(stuck_after_ms) {}

  // Registers a loop before its thread starts; returns its slot. Not
  // thread-safe: call from the thread that builds the agent.
  int Register(std::string name, int64_t now_ms);
  // The loop's turn ended at now_ms (the monotonic clock of clock.h, MonotonicMs).
  void Beat(int slot, int64_t now_ms);
  // A loop that ended on purpose (shutdown) no longer counts.
  void Retire(int slot);

  struct Verdict {
    bool ok = true;
    std::string stuck;        // "engine-1 (42 s)": the loops not beating, comma-separated
    int64_t oldest_ms = 0;    // the longest time since a live loop's last beat
  };
  Verdict Check(int64_t now_ms) const;

 private:
  struct Slot {
    std::string name;
    std::atomic<int64_t> last_ms{0};
    std::atomic<bool> retired{false};
  };
  int64_t stuck_after_ms_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace originwatch::agent_internal
