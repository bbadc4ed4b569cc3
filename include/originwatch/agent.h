// The agent behind `originwatch run`: config -> plan -> scheduler -> engines ->
// evaluator -> store -> webhook sender, with SIGHUP reload and a
// SIGTERM/SIGINT drain. docs/architecture.md draws the threads.
//
// Threads:
//   main       waits for signals, resolves names (never on an engine thread)
//              into address books with hysteresis, builds the plan, reloads,
//              prunes (retention), logs stats.
//   engine i   one Engine (one io_uring ring) and one Scheduler over its shard
//              of origins (FNV-1a of the name): handshakes only; each result
//              is moved into the evaluator's queue.
//   evaluator  per-origin state, one diagnosis per result, alert rules; hands
//              the store one Commit per input.
//   writer     owned by the Store: batched transactions, all SQL.
//   sender     webhook delivery over the store's outbox API.
// Shutdown: stop scheduling, let in-flight probes finish or time out, drain
// the evaluator, flush the store, close the database: nothing that was probed
// is lost.
#pragma once

#include <signal.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace originwatch {

struct AgentArgs {
  std::string config_path;
  int64_t duration_ms = 0;  // 0 = until SIGTERM/SIGINT
  // --shard i/N: probe only the origins of shard i of N (docs/deploy.md);
  // shard_count 0 = every origin.
  int shard_index = 0;
  int shard_count = 0;
};

// The largest N of --shard i/N.
inline constexpr int kMaxShards = 1024;

// Parses "i/N" with 1 <= i <= N <= kMaxShards; false with a message for
// anything else.
bool ParseShardSpec(std::string_view text, int* index, int* count, std::string* error);

// Returns the exit code: 0 after a clean stop, 2 for a bad config or a database
// that cannot be opened (with the reason on stderr), 1 for other start failures.
int RunAgent(const AgentArgs& args);

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (the set RunAgent
// waits for) and returns that set. main() calls it first thing for `run`, so
// that a signal sent while the configuration is read waits for the agent's
// loop instead of killing it.
sigset_t BlockAgentSignals();

// FNV-1a (64-bit) of s: the stable hash that shards origins among engine
// threads (and among agents with --shard).
uint64_t Fnv1a64(std::string_view s);

}  // namespace originwatch
