// The write side of the store: one writer thread, a bounded queue, batched
// transactions, and retention.
//
// Threads: any thread may call Enqueue/Flush/SyncOrigins/Prune/stats/Close;
// only the writer thread touches the connection and the id caches after Open.
// Commands (SyncOrigins, one Prune step) are closures run on the writer thread
// between batches; their caller waits for a promise.
//
// Caches map fingerprints, chains, variants, origins and dictionary texts to
// rowids. They are only valid for committed rows, so every rollback and every
// prune clears them (they refill from SELECTs).
#include "originwatch/store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "store/migrate.h"
#include "store/sqlite_util.h"

namespace originwatch {

using store_internal::DbPtr;
using store_internal::ExecSql;
using store_internal::SqliteError;
using store_internal::StmtCache;

int StoreSchemaVersion() {
  const auto& m = store_internal::EmbeddedMigrations();
  return m.empty() ? 0 : m.back().version;
}

namespace {

constexpr size_t kStringCacheMax = 10000;

SqlValue NullIfNegative(int64_t v) { return v < 0 ? SqlValue(nullptr) : SqlValue(v); }
SqlValue IdOrNull(int64_t id) { return id == 0 ? SqlValue(nullptr) : SqlValue(id); }
SqlValue TextOrNull(const std::string& s) { return s.empty() ? SqlValue(nullptr) : SqlValue(s); }

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

int64_t ColumnInt(sqlite3_stmt* s, int i) { return sqlite3_column_int64(s, i); }
std::string ColumnText(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

// Steps a statement that returns no rows (or ignores them).
Status StepDone(sqlite3* db, sqlite3_stmt* s) {
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return SqliteError(db, "");
  return Status::Ok();
}

// Binds and steps a cached statement to completion.
Status Run(sqlite3* db, StmtCache& cache, std::string_view sql, const std::vector<SqlValue>& p) {
  auto stmt = cache.Get(sql);
  if (!stmt.ok()) return stmt.status();
  if (Status s = store_internal::BindAll(db, *stmt, p); !s.ok()) return s;
  return StepDone(db, *stmt);
}

// Binds a cached statement and returns the first column of its first row, or 0
// when there is no row.
Result<int64_t> LookupId(sqlite3* db, StmtCache& cache, std::string_view sql,
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

class WriteTxnImpl final : public WriteTxn {
 public:
  WriteTxnImpl(sqlite3* db, StmtCache& cache) : db_(db), cache_(cache) {}
  Result<int64_t> Exec(std::string_view sql, const std::vector<SqlValue>& params) override {
    if (Status s = Run(db_, cache_, sql, params); !s.ok()) return s;
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  }
  Result<QueryResult> Query(std::string_view sql, const std::vector<SqlValue>& params) override {
    auto stmt = cache_.Get(sql);
    if (!stmt.ok()) return stmt.status();
    if (Status s = store_internal::BindAll(db_, *stmt, params); !s.ok()) return s;
    auto rows = store_internal::CollectRows(db_, *stmt);
    sqlite3_reset(*stmt);
    return rows;
  }

 private:
  sqlite3* db_;
  StmtCache& cache_;
};

struct Item {
  uint64_t seq = 0;
  ProbeResult result;
  std::optional<FindingRecord> lead;
  WriteHook hook;
};

struct ChainRef {
  int64_t chain_id = 0;
  int64_t leaf_cert_id = 0;
  std::string leaf_sha256;
};

}  // namespace

struct Store::Impl {
  Options options;
  DbPtr db;
  StmtCache stmts{nullptr};       // the writer's own statements
  StmtCache hook_stmts{nullptr};  // statements of hooks (WriteTxn)
  std::thread thread;

  mutable std::mutex mu;
  std::condition_variable wake;  // writer: items, commands or stop
  std::condition_variable done;  // Flush waiters
  std::deque<Item> queue;
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
  std::unordered_map<std::string, int64_t> cert_ids;
  std::unordered_map<std::string, ChainRef> chain_refs;
  std::unordered_map<int64_t, int64_t> chain_last_seen;  // this batch: chain id -> max ts

  void ClearCaches() {
    origin_ids.clear();
    variant_ids.clear();
    string_ids.clear();
    cert_ids.clear();
    chain_refs.clear();
    chain_last_seen.clear();
  }

  sqlite3* raw() { return db.get(); }

  void WriterLoop();
  void WriteBatch(std::vector<Item>& items);
  Status WriteItem(Item& item);
  Status RunOnWriter(std::function<Status()> fn);
  Result<int64_t> OriginId(const ProbeSpec& spec, int64_t ts);
  Result<int64_t> VariantId(int64_t origin_id, const ProbeSpec& spec, int64_t ts);
  Result<int64_t> StringId(const std::string& text);
  Result<int64_t> CertId(const CertInfo& cert, int64_t ts);
  Result<ChainRef> Chain(const std::vector<CertInfo>& chain, int64_t ts);
  Result<std::optional<VariantState>> ReadState(int64_t variant_id);
  Status WriteState(const VariantState& s);
  Result<int64_t> PruneStep(int64_t cutoff, int max_rows);
  Status PruneFinish(int64_t cutoff);
};

// ---------------------------------------------------------------------------
// Open

namespace {

Status CheckPath(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("database path is empty");
  const std::string dir = store_internal::ParentDir(path);
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    return Status::NotFound("cannot open database \"" + path + "\": directory \"" + dir +
                            "\" does not exist");
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("cannot open database \"" + path + "\": \"" + dir +
                                   "\" is not a directory");
  }
  bool exists = stat(path.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("cannot open database \"" + path + "\": it is a directory");
  }
  if (exists && access(path.c_str(), W_OK) != 0) {
    return Status::IoError("cannot open database \"" + path + "\": the file is read-only (" +
                           std::strerror(errno) + "); originwatch writes its history there");
  }
  if (access(dir.c_str(), W_OK) != 0) {
    return Status::IoError("cannot open database \"" + path + "\": directory \"" + dir +
                           "\" is not writable (" + std::strerror(errno) +
                           "); SQLite keeps its -wal and -shm files beside the database");
  }
  return Status::Ok();
}

}  // namespace

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() { Close(); }

Result<std::unique_ptr<Store>> Store::Open(const Options& options) {
  const std::string& path = options.path;
  if (Status s = CheckPath(path); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (impl->options.batch_max_items < 1) impl->options.batch_max_items = 1;
  if (impl->options.batch_max_ms < 0) impl->options.batch_max_ms = 0;
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  impl->db.reset(raw);
  const std::string prefix = "cannot open database \"" + path + "\"";
  if (rc != SQLITE_OK) return SqliteError(raw, prefix);
  if (sqlite3_db_readonly(raw, "main") == 1) {
    return Status::IoError(prefix +
                           ": the file is read-only; originwatch writes its history there");
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  // The first statement that reads the file tells a non-database apart.
  auto mode = store_internal::Prepare(raw, "PRAGMA journal_mode = WAL");
  if (!mode.ok()) return Status::IoError(prefix + ": " + mode.status().message());
  rc = sqlite3_step(mode->get());
  if (rc != SQLITE_ROW) return SqliteError(raw, prefix);
  std::string journal = ColumnText(mode->get(), 0);
  mode->reset();
  if (journal != "wal") {
    return Status::IoError(prefix + ": cannot switch to WAL mode (journal_mode is " + journal +
                           ")");
  }
  if (Status s = ExecSql(raw, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"); !s.ok()) {
    return Status::IoError(prefix + ": " + s.message());
  }
  if (Status s = store_internal::ApplyMigrations(raw, path, store_internal::EmbeddedMigrations());
      !s.ok()) {
    return s;
  }
  impl->stmts = StmtCache(raw);
  impl->hook_stmts = StmtCache(raw);
  impl->running = true;
  Impl* p = impl.get();
  impl->thread = std::thread([p] { p->WriterLoop(); });
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

void Store::Close() {
  if (!impl_) return;
  std::lock_guard<std::mutex> close_lock(impl_->close_mu);
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (!impl_->running) return;
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
  impl_->hook_stmts.Clear();
  impl_->stmts.Clear();
  impl_->db.reset();
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->running = false;
  impl_->done.notify_all();
}

// ---------------------------------------------------------------------------
// Queue

bool Store::Enqueue(ProbeResult result, std::optional<FindingRecord> lead, WriteHook hook) {
  Impl& m = *impl_;
  size_t depth;
  {
    std::lock_guard<std::mutex> lk(m.mu);
    if (m.stopping || !m.running) return false;
    if (m.queue.size() >= m.options.queue_capacity) {
      ++m.stats.dropped_queue_full;
      return false;
    }
    m.queue.push_back(Item{m.next_seq++, std::move(result), std::move(lead), std::move(hook)});
    ++m.stats.enqueued;
    depth = m.queue.size();
  }
  if (depth == 1 || depth >= static_cast<size_t>(m.options.batch_max_items)) m.wake.notify_one();
  return true;
}

void Store::Flush() {
  Impl& m = *impl_;
  std::unique_lock<std::mutex> lk(m.mu);
  const uint64_t target = m.next_seq - 1;
  if (m.done_seq >= target || !m.running) return;
  ++m.flush_waiters;
  m.wake.notify_one();
  m.done.wait(lk, [&] { return m.done_seq >= target || !m.running; });
  --m.flush_waiters;
}

Store::Stats Store::stats() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  Stats s = impl_->stats;
  s.queue_depth = impl_->queue.size();
  return s;
}

Status Store::Impl::RunOnWriter(std::function<Status()> fn) {
  auto task = std::make_shared<std::packaged_task<Status()>>(std::move(fn));
  std::future<Status> result = task->get_future();
  {
    std::lock_guard<std::mutex> lk(mu);
    if (stopping || !running)
      return Status::Unavailable("database \"" + options.path + "\" is closed");
    commands.push_back([task] { (*task)(); });
  }
  wake.notify_one();
  return result.get();
}

void Store::Impl::WriterLoop() {
  const auto batch_wait = std::chrono::milliseconds(options.batch_max_ms);
  const size_t batch_max = static_cast<size_t>(options.batch_max_items);
  std::unique_lock<std::mutex> lk(mu);
  for (;;) {
    wake.wait(lk, [&] { return stopping || !commands.empty() || !queue.empty(); });
    if (!commands.empty()) {
      auto cmd = std::move(commands.front());
      commands.pop_front();
      lk.unlock();
      cmd();
      lk.lock();
      continue;
    }
    if (queue.empty()) {
      if (stopping) break;
      continue;
    }
    // Let the batch fill up, unless someone waits for it.
    wake.wait_for(lk, batch_wait, [&] {
      return stopping || flush_waiters > 0 || queue.size() >= batch_max || !commands.empty();
    });
    std::vector<Item> items;
    size_t n = std::min(queue.size(), batch_max);
    items.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      items.push_back(std::move(queue.front()));
      queue.pop_front();
    }
    lk.unlock();
    WriteBatch(items);
    lk.lock();
    done_seq = items.back().seq;
    done.notify_all();
  }
}

// ---------------------------------------------------------------------------
// Writing one batch

void Store::Impl::WriteBatch(std::vector<Item>& items) {
  sqlite3* d = raw();
  // busy_timeout already waited inside each attempt; keep trying while the
  // store is open (another process holds the write lock), give up on close.
  Status begin;
  for (int attempt = 0;; ++attempt) {
    begin = ExecSql(d, "BEGIN IMMEDIATE");
    if (begin.ok() || begin.code() != Status::Code::kUnavailable) break;
    std::lock_guard<std::mutex> lk(mu);
    if (stopping && attempt > 0) break;
  }
  if (!begin.ok()) {
    std::fprintf(stderr, "originwatch: store: %zu results not written: %s\n", items.size(),
                 begin.message().c_str());
    std::lock_guard<std::mutex> lk(mu);
    stats.write_errors += items.size();
    return;
  }
  size_t written = 0, failed = 0;
  for (Item& item : items) {
    Status s = Run(d, stmts, "SAVEPOINT item", {});
    if (s.ok()) s = WriteItem(item);
    if (s.ok()) {
      s = Run(d, stmts, "RELEASE item", {});
      if (s.ok()) {
        ++written;
        continue;
      }
    }
    std::fprintf(stderr, "originwatch: store: result of %s %s not written: %s\n",
                 item.result.spec.origin.c_str(), item.result.VariantLabel().c_str(),
                 s.message().c_str());
    (void)ExecSql(d, "ROLLBACK TO item; RELEASE item;");
    ClearCaches();
    ++failed;
  }
  Status s = Status::Ok();
  for (const auto& [chain_id, ts] : chain_last_seen) {
    s = Run(d, stmts, "UPDATE chains SET last_seen = max(last_seen, ?2) WHERE id = ?1",
            {chain_id, ts});
    if (!s.ok()) break;
  }
  chain_last_seen.clear();
  if (s.ok()) s = ExecSql(d, "COMMIT");
  if (!s.ok()) {
    std::fprintf(stderr, "originwatch: store: batch of %zu results not written: %s\n", items.size(),
                 s.message().c_str());
    (void)ExecSql(d, "ROLLBACK");
    ClearCaches();
    failed += written;
    written = 0;
  }
  // Before the counters move, so that Flush() returns only after the callback
  // of the batches it waited for has run.
  if (written > 0 && options.on_committed) options.on_committed();
  std::lock_guard<std::mutex> lk(mu);
  stats.committed += written;
  stats.write_errors += failed;
  if (written > 0) ++stats.batches;
}

Result<int64_t> Store::Impl::OriginId(const ProbeSpec& spec, int64_t ts) {
  auto it = origin_ids.find(spec.origin);
  if (it != origin_ids.end()) return it->second;
  auto id = LookupId(raw(), stmts, "SELECT id FROM origins WHERE name = ?1", {spec.origin});
  if (!id.ok()) return id;
  if (*id == 0) {
    // A probe of an origin SyncOrigins never saw (`originwatch probe`).
    Status s = Run(raw(), stmts,
                   "INSERT INTO origins (name, host, port, first_seen) VALUES (?1, ?2, ?3, ?4)",
                   {spec.origin, spec.host, int64_t{spec.port}, ts});
    if (!s.ok()) return s;
    id = static_cast<int64_t>(sqlite3_last_insert_rowid(raw()));
  }
  origin_ids.emplace(spec.origin, *id);
  return id;
}

Result<int64_t> Store::Impl::VariantId(int64_t origin_id, const ProbeSpec& spec, int64_t ts) {
  const std::string sni = spec.sni.value_or("");
  std::string key = std::to_string(origin_id);
  key += '\0';
  key += spec.address;
  key += '\0';
  key += sni;
  key += '\0';
  key += spec.profile;
  auto it = variant_ids.find(key);
  if (it != variant_ids.end()) return it->second;
  auto id = LookupId(raw(), stmts,
                     "SELECT id FROM variants WHERE origin_id = ?1 AND address = ?2 AND sni = ?3 "
                     "AND profile = ?4",
                     {origin_id, spec.address, sni, spec.profile});
  if (!id.ok()) return id;
  if (*id == 0) {
    Status s = Run(raw(), stmts,
                   "INSERT INTO variants (origin_id, address, sni, profile, first_seen) "
                   "VALUES (?1, ?2, ?3, ?4, ?5)",
                   {origin_id, spec.address, sni, spec.profile, ts});
    if (!s.ok()) return s;
    id = static_cast<int64_t>(sqlite3_last_insert_rowid(raw()));
  }
  variant_ids.emplace(std::move(key), *id);
  return id;
}

Result<int64_t> Store::Impl::StringId(const std::string& text) {
  if (text.empty()) return int64_t{0};
  auto it = string_ids.find(text);
  if (it != string_ids.end()) return it->second;
  auto id = LookupId(raw(), stmts, "SELECT id FROM strings WHERE value = ?1", {text});
  if (!id.ok()) return id;
  if (*id == 0) {
    Status s = Run(raw(), stmts, "INSERT INTO strings (value) VALUES (?1)", {text});
    if (!s.ok()) return s;
    id = static_cast<int64_t>(sqlite3_last_insert_rowid(raw()));
  }
  if (string_ids.size() >= kStringCacheMax) string_ids.clear();
  string_ids.emplace(text, *id);
  return id;
}

Result<int64_t> Store::Impl::CertId(const CertInfo& c, int64_t ts) {
  auto it = cert_ids.find(c.sha256_hex);
  if (it != cert_ids.end()) return it->second;
  auto id = LookupId(raw(), stmts, "SELECT id FROM certificates WHERE sha256 = ?1", {c.sha256_hex});
  if (!id.ok()) return id;
  if (*id == 0) {
    std::vector<std::string> sans = c.dns_names;
    for (const auto& ip : c.ip_names) sans.push_back("IP:" + ip);
    auto stmt = stmts.Get(
        "INSERT INTO certificates (sha256, der, subject, issuer, common_name, serial, sans, "
        "not_before, not_after, key_type, key_bits, key_curve, sig_alg, self_issued, is_ca, "
        "first_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
        "?16)");
    if (!stmt.ok()) return stmt.status();
    Status s = store_internal::BindAll(
        raw(), *stmt,
        {c.sha256_hex, nullptr, c.subject, c.issuer, c.common_name, c.serial_hex, Join(sans, "\n"),
         c.not_before, c.not_after, std::string(KeyTypeName(c.key_type)), int64_t{c.key_bits},
         c.key_curve, c.signature_algorithm, int64_t{c.self_issued}, int64_t{c.is_ca}, ts});
    if (!s.ok()) return s;
    if (sqlite3_bind_blob(*stmt, 2, c.der.data(), static_cast<int>(c.der.size()), SQLITE_STATIC) !=
        SQLITE_OK) {
      return SqliteError(raw(), "bind der");
    }
    if (Status st = StepDone(raw(), *stmt); !st.ok()) return st;
    id = static_cast<int64_t>(sqlite3_last_insert_rowid(raw()));
  }
  cert_ids.emplace(c.sha256_hex, *id);
  return id;
}

Result<ChainRef> Store::Impl::Chain(const std::vector<CertInfo>& chain, int64_t ts) {
  std::string key;
  for (const auto& c : chain) {
    if (!key.empty()) key += ',';
    key += c.sha256_hex;
  }
  auto it = chain_refs.find(key);
  ChainRef ref;
  if (it != chain_refs.end()) {
    ref = it->second;
  } else {
    auto stmt = stmts.Get(
        "SELECT ch.id, ch.leaf_cert_id, c.sha256 FROM chains ch JOIN certificates c "
        "ON c.id = ch.leaf_cert_id WHERE ch.fingerprints = ?1");
    if (!stmt.ok()) return stmt.status();
    if (Status s = store_internal::BindAll(raw(), *stmt, {key}); !s.ok()) return s;
    int rc = sqlite3_step(*stmt);
    if (rc == SQLITE_ROW) {
      ref = ChainRef{ColumnInt(*stmt, 0), ColumnInt(*stmt, 1), ColumnText(*stmt, 2)};
      sqlite3_reset(*stmt);
    } else if (rc != SQLITE_DONE) {
      return SqliteError(raw(), "");
    } else {
      std::vector<int64_t> cert_ids_in_order;
      for (const auto& c : chain) {
        auto id = CertId(c, ts);
        if (!id.ok()) return id.status();
        cert_ids_in_order.push_back(*id);
      }
      Status s = Run(raw(), stmts,
                     "INSERT INTO chains (fingerprints, leaf_cert_id, length, first_seen, "
                     "last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
                     {key, cert_ids_in_order.front(), static_cast<int64_t>(chain.size()), ts});
      if (!s.ok()) return s;
      ref.chain_id = sqlite3_last_insert_rowid(raw());
      ref.leaf_cert_id = cert_ids_in_order.front();
      ref.leaf_sha256 = chain.front().sha256_hex;
      for (size_t i = 0; i < cert_ids_in_order.size(); ++i) {
        s = Run(raw(), stmts,
                "INSERT INTO chain_certs (chain_id, position, cert_id) VALUES (?1, ?2, ?3)",
                {ref.chain_id, static_cast<int64_t>(i), cert_ids_in_order[i]});
        if (!s.ok()) return s;
      }
    }
    chain_refs.emplace(std::move(key), ref);
  }
  int64_t& seen = chain_last_seen[ref.chain_id];
  seen = std::max(seen, ts);
  return ref;
}

Result<std::optional<VariantState>> Store::Impl::ReadState(int64_t variant_id) {
  auto stmt = stmts.Get(
      "SELECT s.last_probe_id, s.last_ts, s.last_outcome, s.last_ok_probe_id, s.last_ok_ts, "
      "s.consecutive_failures, s.consecutive_successes, s.failing_since, s.last_chain_id, "
      "c.sha256, s.last_finding_code, s.last_finding_summary FROM variant_state s "
      "LEFT JOIN chains ch ON ch.id = s.last_chain_id "
      "LEFT JOIN certificates c ON c.id = ch.leaf_cert_id WHERE s.variant_id = ?1");
  if (!stmt.ok()) return stmt.status();
  sqlite3_stmt* st = *stmt;
  sqlite3_bind_int64(st, 1, variant_id);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return std::optional<VariantState>();
  if (rc != SQLITE_ROW) return SqliteError(raw(), "");
  VariantState v;
  v.variant_id = variant_id;
  v.last_probe_id = ColumnInt(st, 0);
  v.last_ts_ms = ColumnInt(st, 1);
  v.last_outcome = static_cast<Outcome>(ColumnInt(st, 2));
  v.last_ok_probe_id = ColumnInt(st, 3);
  v.last_ok_ts_ms = ColumnInt(st, 4);
  v.consecutive_failures = ColumnInt(st, 5);
  v.consecutive_successes = ColumnInt(st, 6);
  v.failing_since_ms = ColumnInt(st, 7);
  v.last_chain_id = ColumnInt(st, 8);
  v.leaf_sha256 = ColumnText(st, 9);
  v.last_finding_code = ColumnText(st, 10);
  v.last_finding_summary = ColumnText(st, 11);
  sqlite3_reset(st);
  return std::optional<VariantState>(std::move(v));
}

Status Store::Impl::WriteState(const VariantState& v) {
  return Run(
      raw(), stmts,
      "INSERT INTO variant_state (variant_id, last_probe_id, last_ts, last_outcome, "
      "last_ok_probe_id, last_ok_ts, consecutive_failures, consecutive_successes, "
      "failing_since, last_chain_id, last_finding_code, last_finding_summary) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
      "ON CONFLICT (variant_id) DO UPDATE SET last_probe_id = excluded.last_probe_id, "
      "last_ts = excluded.last_ts, last_outcome = excluded.last_outcome, "
      "last_ok_probe_id = excluded.last_ok_probe_id, last_ok_ts = excluded.last_ok_ts, "
      "consecutive_failures = excluded.consecutive_failures, "
      "consecutive_successes = excluded.consecutive_successes, "
      "failing_since = excluded.failing_since, last_chain_id = excluded.last_chain_id, "
      "last_finding_code = excluded.last_finding_code, "
      "last_finding_summary = excluded.last_finding_summary",
      {v.variant_id, IdOrNull(v.last_probe_id), v.last_ts_ms, static_cast<int64_t>(v.last_outcome),
       IdOrNull(v.last_ok_probe_id), IdOrNull(v.last_ok_ts_ms), v.consecutive_failures,
       v.consecutive_successes, IdOrNull(v.failing_since_ms), IdOrNull(v.last_chain_id),
       TextOrNull(v.last_finding_code), TextOrNull(v.last_finding_summary)});
}

Status Store::Impl::WriteItem(Item& item) {
  const ProbeResult& r = item.result;
  const int64_t ts = r.started_at_ms;
  WrittenProbe w;
  auto origin_id = OriginId(r.spec, ts);
  if (!origin_id.ok()) return origin_id.status();
  w.origin_id = *origin_id;
  auto variant_id = VariantId(w.origin_id, r.spec, ts);
  if (!variant_id.ok()) return variant_id.status();
  w.variant_id = *variant_id;

  // A chain is stored only when every certificate has a fingerprint (its key).
  bool have_chain = !r.chain.empty();
  for (const auto& c : r.chain) have_chain = have_chain && !c.sha256_hex.empty();
  ChainRef chain;
  if (have_chain) {
    auto ref = Chain(r.chain, ts);
    if (!ref.ok()) return ref.status();
    chain = std::move(ref).value();
  }
  w.chain_id = chain.chain_id;

  std::vector<std::string> missing;
  for (const auto& n : r.names) {
    if (!n.covered) missing.push_back(n.name);
  }
  int64_t ids[7];
  const std::string missing_text = Join(missing, ",");
  const std::string* texts[7] = {&r.version,      &r.cipher,     &r.group,     &r.alpn,
                                 &r.verify_error, &missing_text, &r.error_text};
  for (int i = 0; i < 7; ++i) {
    auto id = StringId(*texts[i]);
    if (!id.ok()) return id.status();
    ids[i] = *id;
  }
  Status s = Run(
      raw(), stmts,
      "INSERT INTO probes (variant_id, ts, outcome, alert, alert_sent, connect_ms, handshake_ms, "
      "total_ms, version_id, cipher_id, group_id, alpn_id, chain_id, verify_code, "
      "verify_error_id, verify_depth, names_ok, missing_names_id, ocsp, error_id, first_bytes) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
      "?19, ?20, ?21)",
      {w.variant_id,
       ts,
       static_cast<int64_t>(r.outcome),
       NullIfNegative(r.alert),
       NullIfNegative(r.alert_sent),
       NullIfNegative(r.connect_ms),
       NullIfNegative(r.handshake_ms),
       r.total_ms,
       IdOrNull(ids[0]),
       IdOrNull(ids[1]),
       IdOrNull(ids[2]),
       IdOrNull(ids[3]),
       IdOrNull(chain.chain_id),
       NullIfNegative(r.verify_code),
       IdOrNull(ids[4]),
       r.verify_code > 0 ? NullIfNegative(r.verify_depth) : SqlValue(nullptr),
       r.names.empty() ? SqlValue(nullptr) : SqlValue(int64_t{missing.empty()}),
       IdOrNull(ids[5]),
       int64_t{r.ocsp_stapled},
       IdOrNull(ids[6]),
       TextOrNull(r.first_bytes)});
  if (!s.ok()) return s;
  w.probe_id = sqlite3_last_insert_rowid(raw());

  auto before = ReadState(w.variant_id);
  if (!before.ok()) return before.status();
  w.before = std::move(before).value();
  w.state_advanced = !w.before || ts >= w.before->last_ts_ms;
  if (w.before) {
    w.after = *w.before;
  } else {
    w.after.variant_id = w.variant_id;
  }
  if (w.state_advanced) {
    VariantState& a = w.after;
    a.last_probe_id = w.probe_id;
    a.last_ts_ms = ts;
    a.last_outcome = r.outcome;
    if (r.ok()) {
      a.last_ok_probe_id = w.probe_id;
      a.last_ok_ts_ms = ts;
      a.consecutive_successes += 1;
      a.consecutive_failures = 0;
      a.failing_since_ms = 0;
    } else {
      if (a.consecutive_failures == 0 || a.failing_since_ms == 0) a.failing_since_ms = ts;
      a.consecutive_failures += 1;
      a.consecutive_successes = 0;
    }
    if (chain.chain_id != 0) {
      if (!a.leaf_sha256.empty() && a.leaf_sha256 != chain.leaf_sha256) {
        w.leaf_changed = true;
        w.old_leaf_sha256 = a.leaf_sha256;
      }
      a.last_chain_id = chain.chain_id;
      a.leaf_sha256 = chain.leaf_sha256;
    }
    if (item.lead) {
      a.last_finding_code = item.lead->code;
      a.last_finding_summary = item.lead->summary;
    }
    if (s = WriteState(a); !s.ok()) return s;
    if (w.leaf_changed) {
      s = Run(raw(), stmts,
              "INSERT INTO leaf_changes (variant_id, ts, old_cert_id, new_cert_id) "
              "SELECT ?1, ?2, id, ?4 FROM certificates WHERE sha256 = ?3",
              {w.variant_id, ts, w.old_leaf_sha256, chain.leaf_cert_id});
      if (!s.ok()) return s;
    }
  }

  WriteTxnImpl txn(raw(), hook_stmts);
  if (options.on_written) {
    if (s = options.on_written(txn, w); !s.ok()) return s;
  }
  if (item.hook) {
    if (s = item.hook(txn, w); !s.ok()) return s;
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Commands

Status Store::SyncOrigins(const std::vector<OriginRecord>& origins, int64_t now_ms) {
  Impl* m = impl_.get();
  return m->RunOnWriter([m, &origins, now_ms]() -> Status {
    sqlite3* d = m->raw();
    if (Status s = ExecSql(d, "BEGIN IMMEDIATE"); !s.ok()) return s;
    Status s;
    std::unordered_set<std::string> names;
    for (const auto& o : origins) {
      names.insert(o.name);
      s = Run(d, m->stmts,
              "INSERT INTO origins (name, host, port, tags, first_seen) "
              "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO UPDATE SET "
              "host = excluded.host, port = excluded.port, tags = excluded.tags, "
              "removed_at = NULL",
              {o.name, o.host, int64_t{o.port}, Join(o.tags, ","), now_ms});
      if (!s.ok()) break;
    }
    if (s.ok()) {
      auto stmt = m->stmts.Get("SELECT name FROM origins WHERE removed_at IS NULL");
      std::vector<std::string> gone;
      if (!stmt.ok()) {
        s = stmt.status();
      } else {
        int rc;
        while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
          std::string name = ColumnText(*stmt, 0);
          if (!names.count(name)) gone.push_back(std::move(name));
        }
        if (rc != SQLITE_DONE) s = SqliteError(d, "");
        sqlite3_reset(*stmt);
      }
      for (const auto& name : gone) {
        if (!s.ok()) break;
        s = Run(d, m->stmts, "UPDATE origins SET removed_at = ?2 WHERE name = ?1", {name, now_ms});
      }
    }
    if (s.ok()) s = ExecSql(d, "COMMIT");
    if (!s.ok()) {
      (void)ExecSql(d, "ROLLBACK");
      m->ClearCaches();
      return Status::IoError("database \"" + m->options.path +
                             "\": cannot record origins: " + s.message());
    }
    return Status::Ok();
  });
}

Status Store::Write(std::function<Status(WriteTxn&)> fn) {
  Impl* m = impl_.get();
  return m->RunOnWriter([m, &fn]() -> Status {
    sqlite3* d = m->raw();
    if (Status s = ExecSql(d, "BEGIN IMMEDIATE"); !s.ok()) return s;
    WriteTxnImpl txn(d, m->hook_stmts);
    Status s = fn(txn);
    if (s.ok()) s = ExecSql(d, "COMMIT");
    if (!s.ok()) {
      (void)ExecSql(d, "ROLLBACK");
      m->ClearCaches();  // fn may have inserted rows the caches would now name
    }
    return s;
  });
}

Result<int64_t> Store::Impl::PruneStep(int64_t cutoff, int max_rows) {
  sqlite3* d = raw();
  if (Status s = ExecSql(d, "BEGIN IMMEDIATE"); !s.ok()) return s;
  Status s = Run(d, stmts,
                 "DELETE FROM probes WHERE id IN "
                 "(SELECT id FROM probes WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
                 {cutoff, int64_t{max_rows}});
  int64_t n = sqlite3_changes64(d);
  if (s.ok()) s = ExecSql(d, "COMMIT");
  if (!s.ok()) {
    (void)ExecSql(d, "ROLLBACK");
    return s;
  }
  return n;
}

Status Store::Impl::PruneFinish(int64_t cutoff) {
  sqlite3* d = raw();
  if (Status s = ExecSql(d, "BEGIN IMMEDIATE"); !s.ok()) return s;
  Status s = Run(d, stmts, "DELETE FROM leaf_changes WHERE ts < ?1", {cutoff});
  // A chain whose newest probe is older than the cutoff has no probe left.
  if (s.ok()) s = Run(d, stmts, "DELETE FROM chains WHERE last_seen < ?1", {cutoff});
  if (s.ok()) {
    s = Run(d, stmts,
            "DELETE FROM certificates WHERE "
            "NOT EXISTS (SELECT 1 FROM chain_certs cc WHERE cc.cert_id = certificates.id) AND "
            "NOT EXISTS (SELECT 1 FROM leaf_changes l WHERE l.old_cert_id = certificates.id) AND "
            "NOT EXISTS (SELECT 1 FROM leaf_changes l WHERE l.new_cert_id = certificates.id)",
            {});
  }
  // The alert tables (schema/002): finished deliveries, events nothing still
  // waits to deliver, and alerts resolved before the cutoff. Open alerts and
  // pending outbox rows are never pruned, however old.
  if (s.ok()) {
    s = Run(d, stmts,
            "DELETE FROM deliveries WHERE outbox_id IN "
            "(SELECT id FROM outbox WHERE done_ms IS NOT NULL AND done_ms < ?1)",
            {cutoff});
  }
  if (s.ok()) s = Run(d, stmts, "DELETE FROM outbox WHERE done_ms IS NOT NULL AND done_ms < ?1", {cutoff});
  if (s.ok()) {
    s = Run(d, stmts,
            "DELETE FROM alert_events WHERE at_ms < ?1 AND "
            "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_row = alert_events.id) AND "
            "(alert_id IS NULL OR alert_id IN (SELECT id FROM alerts WHERE resolved_ms IS NOT NULL))",
            {cutoff});
  }
  if (s.ok()) {
    s = Run(d, stmts,
            "DELETE FROM alerts WHERE resolved_ms IS NOT NULL AND resolved_ms < ?1 AND "
            "NOT EXISTS (SELECT 1 FROM alert_events e WHERE e.alert_id = alerts.id)",
            {cutoff});
  }
  if (s.ok()) s = ExecSql(d, "COMMIT");
  if (!s.ok()) (void)ExecSql(d, "ROLLBACK");
  ClearCaches();
  return s;
}

Status Store::Prune(int64_t older_than_ms, int max_rows_per_step) {
  Impl* m = impl_.get();
  if (max_rows_per_step < 1) max_rows_per_step = 1;
  for (;;) {
    int64_t deleted = 0;
    Status s = m->RunOnWriter([&]() -> Status {
      auto n = m->PruneStep(older_than_ms, max_rows_per_step);
      if (!n.ok()) return n.status();
      deleted = *n;
      return Status::Ok();
    });
    if (!s.ok()) {
      return Status::IoError("database \"" + m->options.path + "\": retention: " + s.message());
    }
    {
      std::lock_guard<std::mutex> lk(m->mu);
      m->stats.pruned += static_cast<uint64_t>(deleted);
    }
    if (deleted < max_rows_per_step) break;
  }
  Status s = m->RunOnWriter([&]() -> Status { return m->PruneFinish(older_than_ms); });
  if (!s.ok()) {
    return Status::IoError("database \"" + m->options.path + "\": retention: " + s.message());
  }
  return Status::Ok();
}

}  // namespace originwatch
