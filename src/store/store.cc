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
  // temp_store: the statement journals of the writer's upserts stay in memory.
  // cache_size: 32 MiB (negative = KiB), so that a large batch's dirty pages
  // are not spilled to the WAL before its commit.
  if (Status s = ExecSql(raw,
                         "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
                         "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32768;");
      !s.ok()) {
    return Status::IoError(prefix + ": " + s.message());
  }
  if (Status s = store_internal::ApplyMigrations(raw, path, store_internal::EmbeddedMigrations());
      !s.ok()) {
    return s;
  }
  impl->stmts = StmtCache(raw);
  if (Status s = impl->LoadKnownCertificates(); !s.ok()) {
    return Status::IoError(prefix + ": reading certificates: " + s.message());
  }
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
      uint64_t& dropped = m.stats.writable ? m.stats.dropped_queue_full : m.stats.dropped_unwritable;
      const bool alert_part = !commit.states.empty() || !commit.episodes.empty() ||
                              !commit.events.empty() || !commit.alert_origins.empty();
      if (!alert_part) {
        dropped += commit.probe.has_value();
        return false;
      }
      // Alert transitions are never dropped: the probe row is, and the commit
      // is queued beyond the capacity (alert parts are small and rare).
      if (commit.probe) {
        ++dropped;
        commit.probe.reset();
        commit.lead.reset();
        commit.counts.reset();
      }
      commit.seen_keys.clear();
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
  if (m.done_seq >= target || !m.running || !m.stats.writable) return;
  ++m.flush_waiters;
  m.wake.notify_one();
  // While the database refuses writes the held items cannot be waited for:
  // Flush returns as soon as an attempt fails.
  const uint64_t retries = m.stats.write_retries;
  m.done.wait(lk, [&] {
    return m.done_seq >= target || !m.running || m.stats.write_retries != retries;
  });
  --m.flush_waiters;
}

Store::Stats Store::stats() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  Stats s = impl_->stats;
  s.queue_depth = impl_->queue.size();
  if (!s.writable) s.held += s.queue_depth;  // the refused batch and everything behind it
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

}  // namespace originwatch
