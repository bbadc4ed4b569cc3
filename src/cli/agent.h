// The agent behind `originwatch run`: config -> plan -> scheduler -> engines ->
// store, with SIGHUP reload and a SIGTERM/SIGINT drain.
//
// Threads:
//   main      waits for signals, resolves names (never on an engine thread),
//             syncs origins to the store, reloads, prunes (retention), logs stats.
//   engine i  one Engine (one io_uring ring) and one Scheduler over its shard of
//             origins (by a stable hash of the name); diagnoses each result
//             against the origin's other variants and enqueues it to the store.
//   writer    owned by the Store: batched transactions.
// Shutdown: stop scheduling, let in-flight probes finish or time out, flush
// the store queue, close the database: nothing that was probed is lost.
#pragma once

#include <cstdint>
#include <string>

namespace originwatch::cli {

struct AgentArgs {
  std::string config_path;
  int64_t duration_ms = 0;  // 0 = until SIGTERM/SIGINT
};

// Returns the exit code: 0 after a clean stop, 2 for a bad config or a database
// that cannot be opened (with the reason on stderr), 1 for other start failures.
int RunAgent(const AgentArgs& args);

}  // namespace originwatch::cli
