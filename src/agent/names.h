// The agent's view of names: one address book per origin probed by name, fed
// by the asynchronous resolver (src/dns: c-ares on its own io_uring thread,
// one TTL cache for every origin), and the plan built from the books. Nothing
// here blocks: lookups are requested, their answers arrive in an inbox the
// main thread drains between signals. Private to src/agent.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/engine_shard.h"
#include "originwatch/address_book.h"
#include "originwatch/config.h"
#include "originwatch/evaluator.h"
#include "originwatch/resolver.h"

namespace originwatch::agent_internal {

// The resolver settings of a configuration.
ResolverOptions ResolverOptionsOf(const AgentConfig& cfg);

class NameWatch {
 public:
  // `restored`: origin -> persisted book (Evaluator::restored_books()).
  NameWatch(std::unique_ptr<Resolver> resolver, AddressBookOptions options,
            const std::map<std::string, std::string>& restored, int64_t now_ms);
  ~NameWatch();

  // Asks the resolver for the name of every origin without fixed addresses
  // (the cache answers at once within a TTL). Books of origins no longer
  // configured, or whose host or family changed, start afresh. Returns the
  // number of lookups requested.
  size_t Request(const AgentConfig& cfg);

  // Waits up to timeout_ms until every lookup requested so far was answered
  // (0: no wait).
  void WaitAnswers(int64_t timeout_ms);

  // The answers that arrived, each applied to its origin's book: one
  // observation per lookup for the evaluator.
  std::vector<DnsObservation> Drain(int64_t now_ms);

  // Splits the plan of every origin (its fixed addresses, or its book, all of
  // them or the first) among `shards` engine threads by FNV-1a of the name;
  // fills `view`.
  std::vector<ShardPlan> BuildPlans(const AgentConfig& cfg, int shards, PlanView* view) const;

  // A fingerprint of the probed address sets: when it changes, the plan does.
  std::string Fingerprint() const;

  // The fleet size of --shard i/N (1 without): the engine thread of an
  // origin is chosen from the same hash as its agent (agent/shard.h).
  void set_shard_count(int count) { shard_count_ = count; }

  void set_options(AddressBookOptions options);
  // A new resolver (the servers or TTL bounds changed); answers of the old one
  // still in flight are dropped.
  void set_resolver(std::unique_ptr<Resolver> resolver);
  Resolver::Stats resolver_stats() const { return resolver_->stats(); }

 private:
  struct Pending {
    std::string origin;
    std::string host;
    uint64_t generation = 0;
    DnsAnswer answer;
  };
  struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Pending> answers;
    size_t outstanding = 0;
  };

  std::unique_ptr<Resolver> resolver_;
  std::shared_ptr<Inbox> inbox_;
  int shard_count_ = 1;
  uint64_t generation_ = 1;  // answers of an older generation (another resolver) are dropped
  AddressBookOptions options_;
  std::map<std::string, AddressBook> books_;
  std::map<std::string, std::string> identity_;  // origin -> host|family its book holds
  std::map<std::string, std::string> first_only_;  // origins with addresses = "first": the one probed
};

}  // namespace originwatch::agent_internal
