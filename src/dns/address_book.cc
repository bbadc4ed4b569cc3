// AddressBook: address sets with hysteresis (address_book.h).
#include "originwatch/address_book.h"

#include <nlohmann/json.hpp>
#include <set>

namespace originwatch {

AddressBook::Change AddressBook::Answer(const std::vector<std::string>& addresses, int64_t now_ms) {
  Change ch;
  ch.previous = this->addresses();
  const std::set<std::string> seen(addresses.begin(), addresses.end());
  for (const std::string& a : seen) {
    if (a.empty()) continue;
    auto [it, inserted] = entries_.try_emplace(a);
    if (inserted) ch.added.push_back(a);
    it->second.last_seen_ms = now_ms;
    it->second.absent = 0;
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    ++e.absent;
    if (e.absent >= options_.retire_after_answers && now_ms - e.last_seen_ms >= options_.retire_after_ms) {
      ch.retired.push_back(it->first);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  ch.current = this->addresses();
  return ch;
}

std::vector<std::string> AddressBook::addresses() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [a, e] : entries_) out.push_back(a);
  return out;
}

std::string AddressBook::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [a, e] : entries_) j[a] = {{"last_seen_ms", e.last_seen_ms}, {"absent", e.absent}};
  return j.dump();
}

Result<AddressBook> AddressBook::FromText(std::string_view text, AddressBookOptions options, int64_t now_ms) {
  AddressBook book(options);
  if (!text.empty() && text.front() == '{') {
    const auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("address book: not a JSON object");
    for (const auto& [a, v] : j.items()) {
      if (!v.is_object()) return Status::InvalidArgument("address book: entry \"" + a + "\" is not an object");
      Entry e;
      auto seen = v.find("last_seen_ms");
      auto absent = v.find("absent");
      if (seen != v.end() && seen->is_number_integer()) e.last_seen_ms = seen->get<int64_t>();
      if (absent != v.end() && absent->is_number_integer()) e.absent = absent->get<int>();
      book.entries_[a] = e;
    }
    return book;
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) book.entries_[std::string(text.substr(start, end - start))] = Entry{now_ms, 0};
    start = end + 1;
  }
  return book;
}

}  // namespace originwatch
