// The agent's view of names: one address book per origin that resolves a
// name, fed by lookups on the main thread (never on an engine thread), and the
// plan built from the books. Private to src/agent.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/engine_shard.h"
#include "originwatch/address_book.h"
#include "originwatch/config.h"
#include "originwatch/evaluator.h"

namespace originwatch::agent_internal {

class NameWatch {
 public:
  // `restored`: origin -> persisted book (Evaluator::restored_books()).
  NameWatch(AddressBookOptions options, const std::map<std::string, std::string>& restored, int64_t now_ms);

  // Looks up the name of every origin without fixed addresses (blocking
  // getaddrinfo, main thread), feeds its book and returns one observation per
  // lookup for the evaluator. Books of origins no longer configured, or whose
  // host changed, start afresh.
  std::vector<DnsObservation> ResolveAll(const AgentConfig& cfg, int64_t now_ms);

  // Splits the plan of every origin (its fixed addresses, or its book) among
  // `shards` engine threads by FNV-1a of the name; fills `view`.
  std::vector<ShardPlan> BuildPlans(const AgentConfig& cfg, int shards, PlanView* view) const;

  // A fingerprint of the probed address sets: when it changes, the plan does.
  std::string Fingerprint() const;

  void set_options(AddressBookOptions options);

 private:
  AddressBookOptions options_;
  std::map<std::string, AddressBook> books_;
  std::map<std::string, std::string> hosts_;  // origin -> host its book holds
};

}  // namespace originwatch::agent_internal
