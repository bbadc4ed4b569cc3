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

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
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
#include "store/store_impl.h"

namespace originwatch {

using namespace store_internal;  // NOLINT: this component's own helpers

int StoreSchemaVersion() {
  const auto& m = store_internal::EmbeddedMigrations();
  return m.empty() ? 0 : m.back().version;
}

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
  impl->running = true;
  Impl* p = impl.get();
  impl->thread = std::thread([p] {
    pthread_setname_np(pthread_self(), "ow-store");
    p->WriterLoop();
  });
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
  impl_->stmts.Clear();
  impl_->db.reset();
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->running = false;
  impl_->done.notify_all();
}

// ---------------------------------------------------------------------------
// Queue

bool Store::Enqueue(ProbeResult result, std::optional<FindingRecord> lead) {
  Commit c;
  c.at_ms = result.started_at_ms;
  c.probe = std::move(result);
  c.lead = std::move(lead);
  return Enqueue(std::move(c));
}

bool Store::Enqueue(Commit commit) {
  Impl& m = *impl_;
  size_t depth;
  {
    std::lock_guard<std::mutex> lk(m.mu);
    if (m.stopping || !m.running) return false;
    if (m.queue.size() >= m.options.queue_capacity) {
      ++m.stats.dropped_queue_full;
      return false;
    }
    m.queue.push_back(Item{m.next_seq++, std::move(commit)});
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
  size_t written = 0, failed = 0, probes = 0;
  for (Item& item : items) {
    Status s = Run(d, stmts, "SAVEPOINT item", {});
    if (s.ok()) s = WriteItem(item);
    if (s.ok()) {
      s = Run(d, stmts, "RELEASE item", {});
      if (s.ok()) {
        ++written;
        probes += item.commit.probe.has_value();
        continue;
      }
    }
    if (item.commit.probe) {
      std::fprintf(stderr, "originwatch: store: result of %s %s not written: %s\n",
                   item.commit.probe->spec.origin.c_str(), item.commit.probe->VariantLabel().c_str(),
                   s.message().c_str());
    } else {
      std::fprintf(stderr, "originwatch: store: alert state not written: %s\n", s.message().c_str());
    }
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
    probes = 0;
  }
  // Before the counters move, so that Flush() returns only after the callback
  // of the batches it waited for has run.
  if (written > 0 && options.on_committed) options.on_committed();
  timespec cpu{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  std::lock_guard<std::mutex> lk(mu);
  stats.writer_cpu_ns = static_cast<uint64_t>(cpu.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(cpu.tv_nsec);
  stats.committed += probes;
  stats.commits += written;
  stats.write_errors += failed;
  if (written > 0) ++stats.batches;
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

Result<AlertSnapshot> Store::LoadAlertSnapshot() {
  Impl* m = impl_.get();
  AlertSnapshot out;
  Status s = m->RunOnWriter([m, &out]() -> Status {
    auto snap = m->ReadAlertSnapshot();
    if (!snap.ok()) return snap.status();
    out = std::move(snap).value();
    return Status::Ok();
  });
  if (!s.ok()) return Status::IoError("database \"" + m->options.path + "\": reading alert state: " + s.message());
  return out;
}

Status Store::RecordDelivery(const DeliveryRecord& d) {
  Impl* m = impl_.get();
  return m->RunOnWriter([m, &d]() -> Status {
    sqlite3* db = m->raw();
    if (Status s = ExecSql(db, "BEGIN IMMEDIATE"); !s.ok()) return s;
    Status s = m->WriteDelivery(d);
    if (s.ok()) s = ExecSql(db, "COMMIT");
    if (!s.ok()) (void)ExecSql(db, "ROLLBACK");
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
  // Dictionary texts no probe row references any more (error texts can be
  // unique per probe: a timeout names the bytes it read), so the dictionary
  // stays bounded by retention like the probes. One scan of probes.
  if (s.ok()) {
    s = Run(d, stmts,
            "DELETE FROM strings WHERE id NOT IN ("
            "SELECT version_id FROM probes WHERE version_id IS NOT NULL UNION "
            "SELECT cipher_id FROM probes WHERE cipher_id IS NOT NULL UNION "
            "SELECT group_id FROM probes WHERE group_id IS NOT NULL UNION "
            "SELECT alpn_id FROM probes WHERE alpn_id IS NOT NULL UNION "
            "SELECT verify_error_id FROM probes WHERE verify_error_id IS NOT NULL UNION "
            "SELECT missing_names_id FROM probes WHERE missing_names_id IS NOT NULL UNION "
            "SELECT error_id FROM probes WHERE error_id IS NOT NULL)",
            {});
  }
  if (s.ok()) {
    s = Run(d, stmts,
            "DELETE FROM dns_answers WHERE id NOT IN "
            "(SELECT dns_answer_id FROM probes WHERE dns_answer_id IS NOT NULL)",
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
