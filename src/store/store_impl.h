// Private to src/store: the writer's state (Store::Impl) and the small SQLite
// helpers its files share. Only the writer thread touches the connection and
// the caches after Open.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "originwatch/store.h"
#include "store/sqlite_util.h"

namespace originwatch {
namespace store_internal {

inline constexpr size_t kStringCacheMax = 10000;

inline SqlValue NullIfNegative(int64_t v) { return v < 0 ? SqlValue(nullptr) : SqlValue(v); }
inline SqlValue IdOrNull(int64_t id) { return id == 0 ? SqlValue(nullptr) : SqlValue(id); }
inline SqlValue TextOrNull(const std::string& s) { return s.empty() ? SqlValue(nullptr) : SqlValue(s); }

inline std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

inline int64_t ColumnInt(sqlite3_stmt* s, int i) { return sqlite3_column_int64(s, i); }
inline std::string ColumnText(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

// Steps a statement that returns no rows (or ignores them).
inline Status StepDone(sqlite3* db, sqlite3_stmt* s) {
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return SqliteError(db, "");
  return Status::Ok();
}

// Binds and steps a cached statement to completion.
inline Status Run(sqlite3* db, StmtCache& cache, std::string_view sql, const std::vector<SqlValue>& p) {
  auto stmt = cache.Get(sql);
  if (!stmt.ok()) return stmt.status();
  if (Status s = store_internal::BindAll(db, *stmt, p); !s.ok()) return s;
  return StepDone(db, *stmt);
}

// Binds a cached statement and returns the first column of its first row, or 0
// when there is no row.
inline Result<int64_t> LookupId(sqlite3* db, StmtCache& cache, std::string_view sql,
                         const std::vector<SqlValue>& p) {
  auto stmt = cache.Get(sql);
  if (!stmt.ok()) return stmt.status();
  if (Status s = store_internal::BindAll(db, *stmt, p); !s.ok()) return s;
  int rc = sqlite3_step(*stmt);
  if (rc == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(*stmt, 0);
    sqlite3_reset(*stmt);
    return id;
  }
  if (rc == SQLITE_DONE) return int64_t{0};
  return SqliteError(db, "");
}

// Steps a statement that returns no rows and resets it.
inline Status StepReset(sqlite3* db, sqlite3_stmt* s) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqliteError(db, "");
  return Status::Ok();
}

// The statements of the write path, found by slot (StmtCache::Get(slot, sql))
// instead of by hashing their text for every row.
enum Sql : size_t {
  kSqlInsertProbe,
  kSqlInsertProbeHttp,
  kSqlReadState,
  kSqlWriteState,
  kSqlUpdateState,  // + StateColumns bits >> 1: four statements
  kSqlUpdateStateLast = kSqlUpdateState + 3,
  kSqlUpsertAlertState,
  kSqlDeleteAlertState,
  kSqlUpsertEpisode,
  kSqlSeenKey,
  kSqlAlertOrigins,
  kSqlInsertCert,
  kSqlFillDer,
  kSqlCount
};

// Which columns of a variant_state row changed since it was last written. An
// UPDATE sets only those (plus the base columns): an indexed column left out
// costs no index update and no foreign key lookup.
enum StateColumns : uint8_t {
  kStateBase = 1,   // last probe, outcome, counts, finding
  kStateOk = 2,     // last_ok_probe_id, last_ok_ts
  kStateChain = 4,  // last_chain_id
};

struct CachedState {
  VariantState v;
  bool stored = false;  // the row exists (in this transaction)
  uint8_t pending = 0;  // StateColumns changed and not yet written
};

struct Item {
  uint64_t seq = 0;
  Commit commit;
};

// The writer's FIFO: one vector and the index of its head, so that queuing
// and taking items allocate nothing in the steady state (a deque allocates
// and frees a node per item once an item outgrows its 512-byte blocks). The
// vector keeps its peak capacity (at most Options::queue_capacity items, about
// 1 kB each, moved-from); giving it back after each burst measured 15-20 %
// slower in store_bench.
class ItemQueue {
 public:
  size_t size() const { return items_.size() - head_; }
  bool empty() const { return size() == 0; }
  void push_back(Item item) { items_.push_back(std::move(item)); }
  // Moves the first n items (n <= size()) to the end of `out`.
  void PopInto(std::vector<Item>& out, size_t n) {
    for (size_t i = 0; i < n; ++i) out.push_back(std::move(items_[head_ + i]));
    head_ += n;
    if (head_ == items_.size()) {
      items_.clear();  // keeps the capacity
      head_ = 0;
    } else if (head_ >= 4096 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

 private:
  std::vector<Item> items_;
  size_t head_ = 0;
};

struct ChainRef {
  int64_t chain_id = 0;
  int64_t leaf_cert_id = 0;
  std::string leaf_sha256;
};

}  // namespace store_internal

struct Store::Impl {
  using Item = store_internal::Item;
  using ChainRef = store_internal::ChainRef;
  using DbPtr = store_internal::DbPtr;
  using StmtCache = store_internal::StmtCache;

  Options options;
  DbPtr db;
  StmtCache stmts{nullptr};       // the writer's own statements
  std::thread thread;

  mutable std::mutex mu;
  std::condition_variable wake;  // writer: items, commands or stop
  std::condition_variable done;  // Flush waiters
  store_internal::ItemQueue queue;
  std::vector<Item> batch;  // the writer's current batch (its capacity is kept)
  std::deque<std::function<void()>> commands;
  uint64_t next_seq = 1;
  uint64_t done_seq = 0;
  int flush_waiters = 0;
  bool stopping = false;
  bool running = false;
  Stats stats;

  std::mutex close_mu;

  // Writer-thread-only caches.
  std::unordered_map<std::string, int64_t> origin_ids;
  std::unordered_map<std::string, int64_t> variant_ids;
  std::unordered_map<std::string, int64_t> string_ids;
  std::unordered_map<std::string, int64_t> dns_answer_ids;
  std::unordered_map<std::string, int64_t> cert_ids;
  std::unordered_map<std::string, ChainRef> chain_refs;
  std::unordered_map<int64_t, int64_t> chain_last_seen;  // this batch: chain id -> max ts
  // variant id -> its row of variant_state as this transaction leaves it.
  std::unordered_map<int64_t, store_internal::CachedState> states;
  // While a batch runs without savepoints, a variant's state is written once,
  // at the end of the batch (the last write wins anyway); these are waiting.
  bool defer_states = false;
  std::vector<int64_t> dirty_states;
  // Fingerprints of stored certificates whose DER is empty (known_certs.h: the
  // engine left it out, and retention had deleted the row); a result that
  // brings the DER fills it in. Loaded before the first batch and after
  // ClearCaches.
  std::unordered_set<std::string> certs_without_der;
  bool certs_without_der_loaded = false;
  // This transaction: fingerprints of certificates now stored with their DER
  // (Options::known_certs learns them once it commits), and rows stored without.
  // Whoever rolls back trims them (ClearCaches does not).
  std::vector<std::string> batch_new_certs;
  uint64_t batch_certs_without_der = 0;
  std::string key_buf;  // scratch for cache keys
  // The dictionary id of the last text of each probe column (version, cipher,
  // ...): consecutive probes mostly repeat them, and a compare is cheaper
  // than a hash lookup.
  struct LastString {
    std::string text;
    int64_t id = 0;
  };
  LastString last_strings[7];

  void ClearCaches() {
    origin_ids.clear();
    variant_ids.clear();
    string_ids.clear();
    dns_answer_ids.clear();
    cert_ids.clear();
    chain_refs.clear();
    chain_last_seen.clear();
    states.clear();
    dirty_states.clear();
    for (LastString& l : last_strings) l = LastString{};
    certs_without_der.clear();
    certs_without_der_loaded = false;
  }

  Result<sqlite3_stmt*> Stmt(store_internal::Sql slot);

  sqlite3* raw() { return db.get(); }

  // While the database refuses writes (writer thread; Stats mirrors it).
  bool writable = true;
  std::string last_error;
  int retry_delay_ms = 0;
  std::chrono::steady_clock::time_point retry_at{};
  int64_t last_unwritable_log_ms = 0;
  uint64_t dropped_at_unwritable_start = 0;  // under mu

  void WriterLoop();
  // Writes one batch; true when the database refused it (Unwritable) and the
  // batch must be retried as it is.
  bool WriteBatch(std::vector<Item>& items);
  static bool Unwritable(const Status& s);  // full, I/O error, read-only, busy
  void OnUnwritable(const Status& s, const std::vector<Item>& items);
  void OnWritable();
  void GiveUpOnStop();
  void RollBackBatch();
  // One transaction over `items`; with savepoints a failing item rolls back
  // alone (counted in *failed), without the first failure ends the pass.
  Status WritePass(std::vector<Item>& items, bool savepoints, size_t* written, size_t* probes,
                   size_t* failed);
  Status LoadCertsWithoutDer();
  Status LoadKnownCertificates();
  Status FillDer(const CertInfo& cert);
  Status WriteItem(Item& item);
  Status RunOnWriter(std::function<Status()> fn);
  Result<int64_t> OriginId(const ProbeSpec& spec, int64_t ts);
  Result<int64_t> VariantId(int64_t origin_id, const ProbeSpec& spec, int64_t ts);
  Result<int64_t> StringId(const std::string& text);
  Result<int64_t> DnsAnswerId(const std::string& addresses, int64_t ttl_ms, const std::string& resolver);
  Result<int64_t> CertId(const CertInfo& cert, int64_t ts);
  Result<ChainRef> Chain(const std::vector<CertInfo>& chain, int64_t ts);
  Result<std::optional<VariantState>> ReadState(int64_t variant_id);
  Status WriteState(store_internal::CachedState& s);
  Status WriteDirtyStates();
  Status WriteProbe(const ProbeResult& r, const std::optional<FindingRecord>& lead,
                    const std::optional<VariantCounts>& counts);
  Status WriteAlerts(const Commit& c);
  Status WriteEvent(const EventRecord& e);
  Result<AlertSnapshot> ReadAlertSnapshot();
  Status WriteDelivery(const DeliveryRecord& d);
  Result<int64_t> PruneStep(int64_t cutoff, int max_rows);
  Status PruneFinish(int64_t cutoff);
};

}  // namespace originwatch
