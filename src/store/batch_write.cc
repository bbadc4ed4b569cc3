// The writer thread's loop and its transactions: one batch of queued commits
// per transaction.
//
// A batch is first written without savepoints (a savepoint per commit makes
// SQLite copy every page a commit touches into its statement journal, the
// main cost of a row). If any commit fails, the whole transaction rolls back
// and the batch is written again with one savepoint per commit, so that a
// failing commit rolls back alone, as before.
//
// A batch the database itself refuses (SQLITE_FULL, an I/O error, read-only,
// locked by another process) is not a failing commit: it is held, whole and in
// order, and retried with backoff; what arrives meanwhile waits in the queue
// (bounded by Options::queue_capacity; Enqueue keeps the alert part of what
// it cannot queue). Writing resumes by itself.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "originwatch/clock.h"
#include "originwatch/log.h"
#include "store/store_impl.h"

namespace originwatch {

using namespace store_internal;  // NOLINT: this component's own helpers

namespace {

size_t ProbesIn(const std::vector<Item>& items) {
  size_t n = 0;
  for (const Item& i : items) n += i.commit.probe.has_value();
  return n;
}

}  // namespace

void Store::Impl::WriterLoop() {
  const auto batch_wait = std::chrono::milliseconds(options.batch_max_ms);
  const size_t batch_max = static_cast<size_t>(options.batch_max_items);
  const size_t deep_max = std::max(batch_max, static_cast<size_t>(std::max(options.deep_batch_max_items, 1)));
  std::unique_lock<std::mutex> lk(mu);
  for (;;) {
    wake.wait(lk, [&] { return stopping || !commands.empty() || !queue.empty() || !batch.empty(); });
    if (!commands.empty()) {
      auto cmd = std::move(commands.front());
      commands.pop_front();
      lk.unlock();
      cmd();
      lk.lock();
      continue;
    }
    if (!batch.empty()) {
      // A batch the database refused (full disk, I/O error, read-only, locked):
      // retried whole, in order, before anything newer. Stopping gets one last try.
      if (!stopping && std::chrono::steady_clock::now() < retry_at) {
        wake.wait_until(lk, retry_at, [&] { return stopping || !commands.empty(); });
        continue;
      }
    } else {
      if (queue.empty()) {
        if (stopping) break;
        continue;
      }
      // Let the batch fill up, unless someone waits for it.
      wake.wait_for(lk, batch_wait, [&] {
        return stopping || flush_waiters > 0 || queue.size() >= batch_max || !commands.empty();
      });
      // A writer that fell behind catches up with fewer, larger transactions.
      const size_t limit = queue.size() > 4 * batch_max ? deep_max : batch_max;
      batch.reserve(limit);
      queue.PopInto(batch, std::min(queue.size(), limit));
    }
    const bool last_try = stopping;
    lk.unlock();
    const bool held = WriteBatch(batch);
    const uint64_t last = batch.back().seq;
    if (held && last_try) GiveUpOnStop();
    if (!held || last_try) batch.clear();  // the results are freed outside the lock
    lk.lock();
    if (!held || last_try) done_seq = std::max(done_seq, last);
    done.notify_all();
    if (last_try && held) break;
  }
}

// Stopping while the database refuses every write: what is still held, and
// what waits behind it, is counted and logged, never silently lost.
void Store::Impl::GiveUpOnStop() {
  size_t probes = ProbesIn(batch);
  size_t items = batch.size();
  std::vector<Item> rest;
  {
    std::lock_guard<std::mutex> lk(mu);
    queue.PopInto(rest, queue.size());
    done_seq = next_seq - 1;
  }
  probes += ProbesIn(rest);
  items += rest.size();
  {
    std::lock_guard<std::mutex> lk(mu);
    stats.dropped_unwritable += probes;
    stats.held = 0;
  }
  Log(LogLevel::kError, "",
      "store: stopping while database \"" + options.path + "\" cannot be written (" +
          last_error + "): " + std::to_string(probes) + " probe results and " +
          std::to_string(items - probes) + " other commits were not written and are lost");
}

// Rolls the whole transaction back and forgets what it stored.
void Store::Impl::RollBackBatch() {
  (void)ExecSql(raw(), "ROLLBACK");
  ClearCaches();
  batch_new_certs.clear();
  batch_certs_without_der = 0;
}

Status Store::Impl::WritePass(std::vector<Item>& items, bool savepoints, size_t* written,
                              size_t* probes, size_t* failed) {
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
  if (!begin.ok()) return begin;
  if (!certs_without_der_loaded) {
    if (Status s = LoadCertsWithoutDer(); !s.ok()) {
      (void)ExecSql(d, "ROLLBACK");
      return s;
    }
  }
  defer_states = !savepoints;
  for (Item& item : items) {
    if (!savepoints) {
      Status s = WriteItem(item);
      if (!s.ok()) {
        defer_states = false;
        RollBackBatch();
        return s;
      }
      ++*written;
      *probes += item.commit.probe.has_value();
      continue;
    }
    const size_t certs_before = batch_new_certs.size();
    const uint64_t without_der_before = batch_certs_without_der;
    Status s = ExecSql(d, "SAVEPOINT item");
    if (s.ok()) s = WriteItem(item);
    if (s.ok()) {
      s = ExecSql(d, "RELEASE item");
      if (s.ok()) {
        ++*written;
        *probes += item.commit.probe.has_value();
        continue;
      }
    }
    if (Unwritable(s)) {
      // The database refuses writes: the whole batch is held, not this item dropped.
      defer_states = false;
      RollBackBatch();
      *written = *probes = 0;
      return s;
    }
    if (item.commit.probe) {
      Log(LogLevel::kError, item.commit.probe->spec.origin,
          "store: result of " + item.commit.probe->VariantLabel() + " not written: " + s.message());
    } else {
      Log(LogLevel::kError, "", "store: alert state not written: " + s.message());
    }
    (void)ExecSql(d, "ROLLBACK TO item; RELEASE item;");
    ClearCaches();  // also forgets what the batch stored before: reloaded from the rows
    batch_new_certs.resize(certs_before);
    batch_certs_without_der = without_der_before;
    ++*failed;
  }
  defer_states = false;
  Status s = WriteDirtyStates();
  if (!s.ok() && !savepoints) {
    RollBackBatch();
    *written = *probes = 0;
    return s;
  }
  for (const auto& [chain_id, ts] : chain_last_seen) {
    if (!s.ok()) break;
    s = Run(d, stmts, "UPDATE chains SET last_seen = max(last_seen, ?2) WHERE id = ?1",
            {chain_id, ts});
    if (!s.ok()) break;
  }
  chain_last_seen.clear();
  if (s.ok()) s = ExecSql(d, "COMMIT");
  if (!s.ok()) {
    RollBackBatch();
    *failed += *written;
    *written = 0;
    *probes = 0;
  }
  return s;
}

bool Store::Impl::WriteBatch(std::vector<Item>& items) {
  size_t written = 0, failed = 0, probes = 0;
  Status s = WritePass(items, /*savepoints=*/false, &written, &probes, &failed);
  if (!s.ok() && written < items.size() && failed == 0 && !Unwritable(s)) {
    // A commit failed: written again, each in its own savepoint.
    written = probes = 0;
    s = WritePass(items, /*savepoints=*/true, &written, &probes, &failed);
  }
  if (!s.ok() && Unwritable(s)) {
    // The database, not a commit, is at fault: hold the batch and retry.
    OnUnwritable(s, items);
    return true;
  }
  if (!s.ok()) {
    Log(LogLevel::kError, "",
        "store: batch of " + std::to_string(items.size()) + " results not written: " + s.message());
    failed = items.size();
    written = probes = 0;
  }
  if (!writable) OnWritable();
  // What this batch stored is now visible: the engine may leave the DER of
  // these certificates out from now on.
  if (written > 0 && options.known_certs && !batch_new_certs.empty()) {
    options.known_certs->Add(batch_new_certs);
  }
  batch_new_certs.clear();
  const uint64_t without_der = written > 0 ? batch_certs_without_der : 0;
  batch_certs_without_der = 0;
  // Before the counters move, so that Flush() returns only after the callback
  // of the batches it waited for has run.
  if (written > 0 && options.on_committed) options.on_committed();
  timespec cpu{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  std::lock_guard<std::mutex> lk(mu);
  stats.writer_cpu_ns =
      static_cast<uint64_t>(cpu.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(cpu.tv_nsec);
  stats.committed += probes;
  stats.commits += written;
  stats.write_errors += failed;
  stats.certs_without_der += without_der;
  if (written > 0) ++stats.batches;
  return false;
}

bool Store::Impl::Unwritable(const Status& s) {
  return s.code() == Status::Code::kIoError || s.code() == Status::Code::kUnavailable;
}

void Store::Impl::OnUnwritable(const Status& s, const std::vector<Item>& items) {
  const int64_t now = UnixNowMs();
  const bool first = writable;
  last_error = s.message();
  retry_delay_ms = first ? std::max(options.retry_min_ms, 1)
                         : std::min(std::max(options.retry_max_ms, 1), retry_delay_ms * 2);
  retry_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(retry_delay_ms);
  WriteHealth h;
  {
    std::lock_guard<std::mutex> lk(mu);
    if (first) {
      stats.writable = false;
      stats.unwritable_since_ms = now;
      dropped_at_unwritable_start = stats.dropped_unwritable;
    }
    stats.last_write_error = last_error;
    stats.held = items.size();  // stats() adds the queue
    ++stats.write_retries;
    h.dropped = stats.dropped_unwritable;
    h.held = stats.held + queue.size();
    h.since_ms = stats.unwritable_since_ms;
  }
  writable = false;
  h.writable = false;
  h.error = last_error;
  h.at_ms = now;
  if (first) {
    Log(LogLevel::kError, "",
        "store: database \"" + options.path + "\" cannot be written: " + last_error + "; " +
            std::to_string(ProbesIn(items)) +
            " results held in memory and retried with backoff; alert transitions are kept until "
            "writes resume");
    last_unwritable_log_ms = now;
  } else if (now - last_unwritable_log_ms >= 60000) {
    last_unwritable_log_ms = now;
    Log(LogLevel::kError, "",
        "store: database \"" + options.path + "\" still cannot be written: " + last_error + "; " +
            std::to_string(h.held) + " commits held, " + std::to_string(h.dropped) +
            " probe results dropped so far");
  }
  if (first && options.on_write_health) options.on_write_health(h);
}

void Store::Impl::OnWritable() {
  const int64_t now = UnixNowMs();
  WriteHealth h;
  {
    std::lock_guard<std::mutex> lk(mu);
    h.since_ms = stats.unwritable_since_ms;
    h.dropped = stats.dropped_unwritable - dropped_at_unwritable_start;
    stats.writable = true;
    stats.unwritable_since_ms = 0;
    stats.held = 0;
    h.held = queue.size();
  }
  writable = true;
  h.writable = true;
  h.error = last_error;
  h.at_ms = now;
  Log(LogLevel::kInfo, "",
      "store: database \"" + options.path + "\" is written again after " +
          std::to_string((now - h.since_ms + 500) / 1000) + " s; " + std::to_string(h.dropped) +
          " probe results were dropped while it could not be written (see `dropped (database "
          "unwritable)` in the stats)");
  if (options.on_write_health) options.on_write_health(h);
}

Status Store::Impl::LoadCertsWithoutDer() {
  certs_without_der.clear();
  auto stmt = stmts.Get("SELECT sha256 FROM certificates WHERE length(der) = 0");
  if (!stmt.ok()) return stmt.status();
  int rc;
  while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) certs_without_der.insert(ColumnText(*stmt, 0));
  sqlite3_reset(*stmt);
  if (rc != SQLITE_DONE) return SqliteError(raw(), "");
  certs_without_der_loaded = true;
  return Status::Ok();
}

Status Store::Impl::LoadKnownCertificates() {
  if (!options.known_certs) return Status::Ok();
  auto stmt = stmts.Get("SELECT sha256 FROM certificates WHERE length(der) > 0");
  if (!stmt.ok()) return stmt.status();
  std::vector<std::string> all;
  int rc;
  while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) all.push_back(ColumnText(*stmt, 0));
  sqlite3_reset(*stmt);
  if (rc != SQLITE_DONE) return SqliteError(raw(), "");
  options.known_certs->Add(all);
  return Status::Ok();
}

}  // namespace originwatch
