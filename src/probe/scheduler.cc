// Scheduler internals.
//
// Every probe is an Entry, in exactly one place at a time:
//   kHeap     waiting for its due time in the min-heap (running or not);
//   kReady    due, not running, held back by the global cap (FIFO `ready_`);
//   kAddrWait due, not running, held back by its address cap (FIFO per address);
//   kNone     removed by SetProbes while running: kept only until Complete.
// Transitions:
//   kHeap -(due, not running)-> kReady -(slots free)-> started, kHeap (next turn)
//   kHeap -(due, running)-> skipped, kHeap (next turn)
//   kReady -(address full)-> kAddrWait -(Complete on that address)-> kReady (front)
// Queues hold (id, gen) references and are never searched: a reference whose
// entry is gone or whose gen changed is stale and dropped when it surfaces
// (lazy invalidation). Bumping gen is how an entry leaves a queue.
#include "originwatch/scheduler.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <queue>
#include <unordered_map>
#include <utility>

#include "originwatch/plan.h"
#include "originwatch/status.h"

namespace originwatch {
namespace {

// FNV-1a 64 with a splitmix64 finalizer: stable across builds and platforms
// (std::hash is not), and the finalizer spreads keys that differ in one byte.
uint64_t StableHash(const std::string& s) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

// Floor modulo: the phase grid is the same for negative clocks.
int64_t FloorMod(int64_t a, int64_t m) {
  int64_t r = a % m;
  return r < 0 ? r + m : r;
}

// The first slot strictly after now of the grid {due + k * interval}.
int64_t NextSlotAfter(int64_t due, int64_t interval, int64_t now) {
  if (due > now) return due;
  return due + ((now - due) / interval + 1) * interval;
}

enum class Where { kHeap, kReady, kAddrWait, kNone };

struct Ref {
  uint64_t id;
  uint32_t gen;
};

struct HeapItem {
  int64_t due;
  uint64_t id;
  uint32_t gen;
  // std::priority_queue is a max-heap: "greater" puts the earliest due on top;
  // id breaks ties so that the order is deterministic.
  bool operator<(const HeapItem& o) const { return due != o.due ? due > o.due : id > o.id; }
};

}  // namespace

struct Scheduler::Impl {
  struct Address {
    int in_flight = 0;
    size_t entries = 0;  // entries (removed-but-running included) on this address
    std::deque<Ref> waiting;
  };

  struct Entry {
    ProbeSpec spec;  // spec.id == the entry's id
    std::string key;
    uint64_t hash = 0;
    int64_t interval = 0;
    int64_t due = 0;
    uint32_t gen = 0;
    Where where = Where::kNone;
    bool in_flight = false;
    bool removed = false;
    bool deferred = false;       // this turn was already counted in deferred_cap
    uint64_t seen = 0;           // SetProbes epoch that last listed it
    Address* address = nullptr;  // unordered_map nodes are stable
  };

  explicit Impl(Options o)
      : max_in_flight(std::max(1, o.max_in_flight)),
        max_per_address(std::max(1, o.max_per_address)) {}

  Entry* Find(uint64_t id) {
    auto it = entries.find(id);
    return it == entries.end() ? nullptr : &it->second;
  }
  const Entry* Find(uint64_t id) const {
    auto it = entries.find(id);
    return it == entries.end() ? nullptr : &it->second;
  }
  // The entry behind a queue reference, or nullptr when the reference is stale.
  Entry* Live(const Ref& r, Where where) {
    Entry* e = Find(r.id);
    return e != nullptr && e->gen == r.gen && e->where == where ? e : nullptr;
  }

  void MoveTo(Entry& e, Where where) {
    bool was_held = e.where == Where::kReady || e.where == Where::kAddrWait;
    bool is_held = where == Where::kReady || where == Where::kAddrWait;
    held += static_cast<size_t>(is_held) - static_cast<size_t>(was_held);
    e.where = where;
    ++e.gen;
  }
  void PushHeap(Entry& e, int64_t due) {
    MoveTo(e, Where::kHeap);
    e.due = due;
    heap.push(HeapItem{due, e.spec.id, e.gen});
  }

  void Erase(Entry& e) {
    MoveTo(e, Where::kNone);
    Address* a = e.address;
    std::string address_key = e.spec.address;
    key_to_id.erase(e.key);
    entries.erase(e.spec.id);
    if (--a->entries == 0 && a->in_flight == 0) addresses.erase(address_key);
  }

  // Drops stale references at the top of the heap and the front of ready, so
  // that NextDue can read them in O(1).
  void Trim() {
    while (!heap.empty()) {
      const HeapItem& t = heap.top();
      if (Live(Ref{t.id, t.gen}, Where::kHeap) != nullptr) break;
      heap.pop();
    }
    while (!ready.empty() && Live(ready.front(), Where::kReady) == nullptr) ready.pop_front();
  }

  // After a reload, queues may hold many stale references: rebuild them when
  // they are more than twice the size they need.
  void Compact() {
    if (heap.size() > 2 * entries.size() + 64) {
      std::vector<HeapItem> items;
      items.reserve(entries.size());
      for (auto& [id, e] : entries) {
        if (e.where == Where::kHeap) items.push_back(HeapItem{e.due, id, e.gen});
      }
      heap = std::priority_queue<HeapItem>(std::less<HeapItem>(), std::move(items));
    }
    auto filter = [this](std::deque<Ref>& q, Where where) {
      std::erase_if(q, [&](const Ref& r) { return Live(r, where) == nullptr; });
    };
    filter(ready, Where::kReady);
    for (auto& [addr, a] : addresses) filter(a.waiting, Where::kAddrWait);
  }

  const int max_in_flight;
  const int max_per_address;
  std::unordered_map<uint64_t, Entry> entries;
  std::unordered_map<std::string, uint64_t> key_to_id;
  std::unordered_map<std::string, Address> addresses;
  std::priority_queue<HeapItem> heap;
  std::deque<Ref> ready;
  uint64_t next_id = 1;  // 0 is ProbeSpec's default: never a scheduled id
  uint64_t epoch = 0;
  size_t live = 0;  // entries not removed
  size_t in_flight = 0;
  size_t held = 0;
  uint64_t started = 0;
  uint64_t skipped_in_flight = 0;
  uint64_t deferred_cap = 0;
};

std::string ScheduleKey(const ProbeSpec& spec) {
  // \x1f (unit separator) cannot appear in a valid origin name, address or
  // profile name; the SNI is marked so that "no SNI" differs from any name.
  std::string k;
  k.reserve(spec.origin.size() + spec.address.size() + spec.profile.size() + 64);
  k += spec.origin;
  k += '\x1f';
  k += spec.address;
  k += '\x1f';
  k += std::to_string(spec.port);
  k += '\x1f';
  k += spec.sni ? "s=" + *spec.sni : std::string("-");
  k += '\x1f';
  k += spec.profile;
  return k;
}

Scheduler::Scheduler(Options options) : impl_(std::make_unique<Impl>(options)) {}
Scheduler::~Scheduler() = default;

void Scheduler::SetProbes(std::vector<ScheduledProbe> probes, int64_t now_ms) {
  Impl& s = *impl_;
  const uint64_t epoch = ++s.epoch;
  // interval -> entries to phase, in input order (sorted below).
  std::unordered_map<int64_t, std::vector<Impl::Entry*>> to_phase;

  for (ScheduledProbe& p : probes) {
    OW_CHECK(p.interval_ms > 0);
    std::string key = ScheduleKey(p.spec);
    auto it = s.key_to_id.find(key);
    if (it != s.key_to_id.end()) {
      Impl::Entry& e = s.entries.at(it->second);
      if (e.seen == epoch) continue;  // duplicate key in this set
      e.seen = epoch;
      p.spec.id = e.spec.id;
      e.spec = std::move(p.spec);
      bool rephase = false;
      if (e.removed) {  // removed while running, back before it completed
        e.removed = false;
        ++s.live;
        rephase = true;
      } else if (e.interval != p.interval_ms) {
        // Held-back probes are due already: they keep their place in the queue.
        rephase = e.where == Where::kHeap;
      }
      e.interval = p.interval_ms;
      if (rephase) to_phase[e.interval].push_back(&e);
      continue;
    }
    uint64_t id = s.next_id++;
    auto [ait, unused] = s.addresses.try_emplace(p.spec.address);
    ++ait->second.entries;
    Impl::Entry& e = s.entries[id];
    p.spec.id = id;
    e.spec = std::move(p.spec);
    e.key = key;
    e.hash = StableHash(key);
    e.interval = p.interval_ms;
    e.seen = epoch;
    e.address = &ait->second;
    s.key_to_id.emplace(std::move(key), id);
    ++s.live;
    to_phase[e.interval].push_back(&e);
  }

  // Drop what the new set does not list.
  std::vector<Impl::Entry*> gone;
  for (auto& [id, e] : s.entries) {
    if (e.seen != epoch && !e.removed) gone.push_back(&e);
  }
  for (Impl::Entry* e : gone) {
    --s.live;
    if (e->in_flight) {
      e->removed = true;
      s.MoveTo(*e, Where::kNone);
    } else {
      s.Erase(*e);
    }
  }

  // Phase the new ones: evenly spaced per interval, in hash order.
  for (auto& [interval, group] : to_phase) {
    std::sort(group.begin(), group.end(), [](const Impl::Entry* a, const Impl::Entry* b) {
      return a->hash != b->hash ? a->hash < b->hash : a->key < b->key;
    });
    const int64_t n = static_cast<int64_t>(group.size());
    const int64_t base =
        static_cast<int64_t>(group.front()->hash % static_cast<uint64_t>(interval));
    const int64_t grid = now_ms - FloorMod(now_ms, interval);
    for (int64_t i = 0; i < n; ++i) {
      // i * interval fits: n <= a few million, interval <= years in ms.
      int64_t phase =
          (base + static_cast<int64_t>(static_cast<__int128>(i) * interval / n)) % interval;
      int64_t due = grid + phase;
      if (due < now_ms) due += interval;
      s.PushHeap(*group[i], due);
    }
  }
  s.Compact();
  s.Trim();
}

std::vector<ProbeSpec> Scheduler::TakeDue(int64_t now_ms) {
  Impl& s = *impl_;
  std::vector<ProbeSpec> out;

  // 1. Everything due leaves the heap: skipped if running, else queued in ready.
  size_t added = 0;
  while (!s.heap.empty() && s.heap.top().due <= now_ms) {
    HeapItem t = s.heap.top();
    s.heap.pop();
    Impl::Entry* e = s.Live(Ref{t.id, t.gen}, Where::kHeap);
    if (e == nullptr) continue;
    if (e->in_flight) {
      uint64_t missed = static_cast<uint64_t>((now_ms - e->due) / e->interval + 1);
      s.skipped_in_flight += missed;
      s.PushHeap(*e, NextSlotAfter(e->due, e->interval, now_ms));
    } else {
      s.MoveTo(*e, Where::kReady);
      s.ready.push_back(Ref{e->spec.id, e->gen});
      ++added;
    }
  }

  // 2. Start from ready, oldest first, within the caps.
  while (!s.ready.empty() && s.in_flight < static_cast<size_t>(s.max_in_flight)) {
    Ref r = s.ready.front();
    s.ready.pop_front();
    Impl::Entry* e = s.Live(r, Where::kReady);
    if (e == nullptr) continue;
    Impl::Address& a = *e->address;
    if (a.in_flight >= s.max_per_address) {
      s.MoveTo(*e, Where::kAddrWait);
      a.waiting.push_back(Ref{e->spec.id, e->gen});
      if (!e->deferred) {
        e->deferred = true;
        ++s.deferred_cap;
      }
      continue;
    }
    e->in_flight = true;
    e->deferred = false;
    ++a.in_flight;
    ++s.in_flight;
    ++s.started;
    const int64_t due = e->due;
    s.PushHeap(*e, NextSlotAfter(e->due, e->interval, now_ms));
    out.push_back(e->spec);
    out.back().due_ms = due;
  }

  // 3. What stayed in ready is held by the global cap. Only the entries queued
  //    by this call can be uncounted, and they are at the back.
  for (size_t i = s.ready.size(), n = 0; i > 0 && n < added; --i, ++n) {
    Impl::Entry* e = s.Live(s.ready[i - 1], Where::kReady);
    if (e != nullptr && !e->deferred) {
      e->deferred = true;
      ++s.deferred_cap;
    }
  }
  s.Trim();
  return out;
}

bool Scheduler::Complete(uint64_t id) {
  Impl& s = *impl_;
  Impl::Entry* e = s.Find(id);
  if (e == nullptr || !e->in_flight) return false;
  e->in_flight = false;
  --s.in_flight;
  Impl::Address& a = *e->address;
  --a.in_flight;
  // One slot freed on this address: the oldest probe waiting for it goes to
  // the front of ready (it has been due longer than anything queued after it).
  while (!a.waiting.empty()) {
    Ref r = a.waiting.front();
    a.waiting.pop_front();
    if (Impl::Entry* w = s.Live(r, Where::kAddrWait)) {
      s.MoveTo(*w, Where::kReady);
      s.ready.push_front(Ref{w->spec.id, w->gen});
      break;
    }
  }
  if (e->removed) s.Erase(*e);
  s.Trim();
  return true;
}

std::optional<int64_t> Scheduler::NextDue() const {
  const Impl& s = *impl_;
  std::optional<int64_t> next;
  if (!s.heap.empty()) next = s.heap.top().due;
  if (!s.ready.empty() && s.in_flight < static_cast<size_t>(s.max_in_flight)) {
    const Impl::Entry* e = s.Find(s.ready.front().id);
    if (e != nullptr && (!next || e->due < *next)) next = e->due;
  }
  return next;
}

Scheduler::Stats Scheduler::stats() const {
  const Impl& s = *impl_;
  Stats st;
  st.started = s.started;
  st.skipped_in_flight = s.skipped_in_flight;
  st.deferred_cap = s.deferred_cap;
  st.in_flight = s.in_flight;
  st.probes = s.live;
  st.held = s.held;
  return st;
}

std::vector<ScheduledProbe> PlanOrigin(const OriginConfig& origin,
                                       const std::vector<std::string>& addresses) {
  const AgentConfig defaults;
  VariantMatrix m;
  m.origin = origin.name;
  m.host = origin.host;
  m.port = origin.port;
  for (const std::string& a : addresses) {
    if (std::find(m.addresses.begin(), m.addresses.end(), a) == m.addresses.end()) {
      m.addresses.push_back(a);
    }
  }
  m.snis = origin.sni;
  if (m.snis.empty()) {
    // RFC 6066 forbids IP literals in SNI (the same default as the config).
    if (IsIpLiteral(origin.host)) {
      m.snis.push_back(std::nullopt);
    } else {
      m.snis.push_back(origin.host);
    }
  }
  m.profiles = origin.profiles;
  if (m.profiles.empty()) m.profiles.push_back("modern");
  m.expect_names = origin.expect_names;
  int64_t timeout = origin.timeout_ms > 0 ? origin.timeout_ms : defaults.timeout_ms;
  int64_t connect =
      origin.connect_timeout_ms > 0 ? origin.connect_timeout_ms : defaults.connect_timeout_ms;
  constexpr int64_t kMaxMs = std::numeric_limits<int>::max();
  m.timeout_ms = static_cast<int>(std::min(timeout, kMaxMs));
  m.connect_timeout_ms = static_cast<int>(std::min({connect, timeout, kMaxMs}));
  const int64_t interval = origin.interval_ms > 0 ? origin.interval_ms : defaults.interval_ms;

  std::vector<ScheduledProbe> out;
  for (ProbeSpec& spec : ExpandMatrix(m)) {
    spec.id = 0;
    out.push_back(ScheduledProbe{std::move(spec), interval});
  }
  return out;
}

}  // namespace originwatch
