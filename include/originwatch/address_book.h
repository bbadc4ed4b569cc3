// The addresses an origin's name resolves to, with hysteresis: what the agent
// probes is not the last DNS answer but every address seen recently.
//
// An address joins the set the first time an answer holds it. It leaves only
// when it has been absent from every successful answer for `retire_after_ms`
// AND from at least `retire_after_answers` consecutive successful answers. A
// failed lookup changes nothing: clients with cached answers still reach the
// last good addresses, so they stay probed and their alerts stay open. A CDN
// name whose answers rotate among several addresses therefore keeps a stable
// set: no address leaves, no alert resolves, no addresses_changed churn.
//
// Pure value: no I/O, time is a parameter. Not thread-safe; one owner.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "originwatch/status.h"

namespace originwatch {

struct AddressBookOptions {
  int64_t retire_after_ms = 3600 * 1000;  // [agent] address_retire_after
  int retire_after_answers = 3;
};

class AddressBook {
 public:
  explicit AddressBook(AddressBookOptions options = {}) : options_(options) {}

  struct Change {
    std::vector<std::string> previous;  // sorted, before the answer
    std::vector<std::string> current;   // sorted, after it
    std::vector<std::string> added;
    std::vector<std::string> retired;
    bool changed() const { return !added.empty() || !retired.empty(); }
  };

  // A successful answer (any order, duplicates ignored; empty counts as an
  // answer with no address, which retires nothing by itself before the window).
  Change Answer(const std::vector<std::string>& addresses, int64_t now_ms);

  // The addresses probed now, sorted.
  std::vector<std::string> addresses() const;
  bool empty() const { return entries_.empty(); }
  void set_options(AddressBookOptions o) { options_ = o; }

  // {"1.2.3.4":{"last_seen_ms":...,"absent":0},...}
  std::string ToJson() const;
  // Reads ToJson's form, or the comma-joined list of earlier versions (every
  // address then counts as seen at now_ms). InvalidArgument for anything else.
  static Result<AddressBook> FromText(std::string_view text, AddressBookOptions options, int64_t now_ms);

 private:
  struct Entry {
    int64_t last_seen_ms = 0;
    int absent = 0;  // consecutive successful answers without it
  };
  AddressBookOptions options_;
  std::map<std::string, Entry> entries_;
};

}  // namespace originwatch
