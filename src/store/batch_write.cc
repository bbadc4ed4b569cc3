// The writer thread's loop and its transactions: one batch of queued commits
// per transaction.
//
// A batch is first written without savepoints (a savepoint per commit makes
// SQLite copy every page a commit touches into its statement journal, the
// main cost of a row). If any commit fails, the whole transaction rolls back
// and the batch is written again with one savepoint per commit, so that a
// failing commit rolls back alone, as before.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "store/store_impl.h"

namespace originwatch {

using namespace store_internal;  // NOLINT: this component's own helpers

void Store::Impl::WriterLoop() {
  const auto batch_wait = std::chrono::milliseconds(options.batch_max_ms);
  const size_t batch_max = static_cast<size_t>(options.batch_max_items);
  const size_t deep_max = std::max(batch_max, static_cast<size_t>(std::max(options.deep_batch_max_items, 1)));
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
    // A writer that fell behind catches up with fewer, larger transactions.
    const size_t limit = queue.size() > 4 * batch_max ? deep_max : batch_max;
    batch.clear();
    batch.reserve(limit);
    queue.PopInto(batch, std::min(queue.size(), limit));
    lk.unlock();
    WriteBatch(batch);
    const uint64_t last = batch.back().seq;
    batch.clear();  // the results are freed outside the lock
    lk.lock();
    done_seq = last;
    done.notify_all();
  }
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
        (void)ExecSql(d, "ROLLBACK");
        ClearCaches();
        batch_new_certs.clear();
        batch_certs_without_der = 0;
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
    if (item.commit.probe) {
      std::fprintf(stderr, "originwatch: store: result of %s %s not written: %s\n",
                   item.commit.probe->spec.origin.c_str(), item.commit.probe->VariantLabel().c_str(),
                   s.message().c_str());
    } else {
      std::fprintf(stderr, "originwatch: store: alert state not written: %s\n", s.message().c_str());
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
    (void)ExecSql(d, "ROLLBACK");
    ClearCaches();
    batch_new_certs.clear();
    batch_certs_without_der = 0;
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
    (void)ExecSql(d, "ROLLBACK");
    ClearCaches();
    batch_new_certs.clear();
    batch_certs_without_der = 0;
    *failed += *written;
    *written = 0;
    *probes = 0;
  }
  return s;
}

void Store::Impl::WriteBatch(std::vector<Item>& items) {
  size_t written = 0, failed = 0, probes = 0;
  Status s = WritePass(items, /*savepoints=*/false, &written, &probes, &failed);
  if (!s.ok() && written < items.size() && failed == 0) {
    // A commit failed: written again, each in its own savepoint.
    written = probes = 0;
    s = WritePass(items, /*savepoints=*/true, &written, &probes, &failed);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "originwatch: store: batch of %zu results not written: %s\n", items.size(),
                 s.message().c_str());
    failed = items.size();
    written = probes = 0;
  }
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
