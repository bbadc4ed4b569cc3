// The SQLite history of every probe (schema: schema/*.sql, docs/storage.md).
//
// Write side: Store. One writer thread owns the only read-write connection.
// Engine threads hand it ProbeResults with Enqueue(), which never blocks: the
// result goes into a bounded queue, and when the queue is full it is dropped
// and counted. The writer commits the queue in batches, one transaction per
// batch; everything one item causes (the probe row, its certificates and chain,
// the variant's new state, and whatever the item's hooks write, e.g. alert
// events) is written in that transaction, inside one savepoint per item, so an
// item is either written whole or not at all.
//
// Read side: RunQuery() and Report() open the database read-only (they never
// create a file and refuse every write), so `originwatch query` can run beside
// a live agent (WAL mode).
//
// Time is a value: nothing here reads the clock except the views of the schema
// (they compute days_left against SQLite's 'now'; Report() takes now_ms).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "originwatch/probe.h"
#include "originwatch/status.h"

namespace originwatch {

// The schema version (PRAGMA user_version) this binary migrates up to.
int StoreSchemaVersion();

// One configured origin, as SyncOrigins() records it.
struct OriginRecord {
  std::string name;  // unique key (ProbeSpec::origin)
  std::string host;
  uint16_t port = 443;
  std::vector<std::string> tags;  // stored joined with ','
};

// The diagnosis of an origin at the time of a probe (diagnose.h: Finding).
struct FindingRecord {
  std::string code;     // finding::k*
  std::string summary;  // plain words
};

// The per-variant state kept in table variant_state. A "variant" is one
// origin × address × SNI × profile. Ids are SQLite rowids; 0 = none.
struct VariantState {
  int64_t variant_id = 0;
  int64_t last_probe_id = 0;
  int64_t last_ts_ms = 0;
  Outcome last_outcome = Outcome::kInternal;
  int64_t last_ok_probe_id = 0;
  int64_t last_ok_ts_ms = 0;
  int64_t consecutive_failures = 0;
  int64_t consecutive_successes = 0;
  int64_t failing_since_ms = 0;  // ts of the first failure of the current run; 0 = not failing
  int64_t last_chain_id = 0;     // the last chain this variant served (kept across failures)
  std::string leaf_sha256;       // leaf of last_chain_id, "" if none
  std::string last_finding_code;
  std::string last_finding_summary;
};

// What the writer did for one item, given to the item's hooks.
struct WrittenProbe {
  int64_t probe_id = 0;
  int64_t variant_id = 0;
  int64_t origin_id = 0;
  int64_t chain_id = 0;                // 0 = the probe carried no chain
  std::optional<VariantState> before;  // nullopt: the variant's first probe
  VariantState after;
  // false when the probe is older than the variant's newest stored probe (it
  // arrived late): the row is stored, the state is left as it was.
  bool state_advanced = true;
  bool leaf_changed = false;  // the leaf fingerprint differs from the last one seen
  std::string old_leaf_sha256;
};

// A value bound to a "?N" parameter or read from a column.
using SqlValue = std::variant<std::nullptr_t, int64_t, double, std::string>;

// Rows of a statement: column names and, per row, each cell as text (NULL =
// nullopt; integers and reals in SQLite's text form; BLOBs as lower-case hex).
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
  // Same shape as rows: true where SQLite returned an INTEGER or a REAL
  // (FormatJson writes those as JSON numbers). May be empty: all text.
  std::vector<std::vector<bool>> numeric;
};

// The open transaction of the writer, lent to hooks for the duration of one
// item. Statements are prepared once per distinct SQL text and reused. Only
// valid inside the hook call; only the writer thread calls hooks.
class WriteTxn {
 public:
  virtual ~WriteTxn() = default;
  // Runs one statement (parameters ?1..?N). Returns the rowid of the last
  // insert on this connection.
  virtual Result<int64_t> Exec(std::string_view sql, const std::vector<SqlValue>& params = {}) = 0;
  virtual Result<QueryResult> Query(std::string_view sql,
                                    const std::vector<SqlValue>& params = {}) = 0;
};

// Runs inside the writer's transaction after an item's probe row and state are
// written. A non-OK Status rolls back that item alone (its probe row too); the
// rest of the batch commits. Must not block on other threads.
using WriteHook = std::function<Status(WriteTxn&, const WrittenProbe&)>;

class Store {
 public:
  struct Options {
    std::string path;
    size_t queue_capacity = 65536;  // items waiting for the writer; beyond: dropped
    int batch_max_items = 512;      // items per transaction
    int batch_max_ms = 200;         // longest an item waits for its batch to fill
    int busy_timeout_ms = 5000;     // PRAGMA busy_timeout of the writer connection
    // Called for every item, before the item's own hook (e.g. alert rules).
    WriteHook on_written;
    // Called on the writer thread after each batch that wrote at least one item
    // has committed (e.g. to wake the webhook sender: the outbox rows are now
    // visible). Must not block.
    std::function<void()> on_committed;
  };

  struct Stats {
    uint64_t enqueued = 0;            // accepted by Enqueue
    uint64_t committed = 0;           // items whose transaction committed
    uint64_t dropped_queue_full = 0;  // refused by Enqueue
    uint64_t batches = 0;             // committed transactions holding items
    uint64_t pruned = 0;              // probe rows deleted by Prune
    uint64_t write_errors = 0;        // items rolled back (hook failure, SQLite error)
    uint64_t queue_depth = 0;         // items waiting now (not yet taken by the writer)
  };

  // Opens or creates the database, applies the missing migrations (each in a
  // transaction; PRAGMA user_version records the last one), sets WAL mode,
  // synchronous=NORMAL, busy_timeout and foreign_keys=ON, and starts the writer
  // thread. Errors name the path: missing directory, directory or file not
  // writable, "file is not a database", a schema version newer than this
  // binary knows ("database "<path>" has schema version 7, this originwatch
  // knows up to 1: upgrade originwatch").
  static Result<std::unique_ptr<Store>> Open(const Options& options);

  ~Store();  // Close()
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Upserts every origin (name, host, port, tags; clears removed_at) and sets
  // removed_at = now_ms on the ones absent from the list. Their history stays.
  // Runs on the writer thread; blocks the caller until it is committed.
  Status SyncOrigins(const std::vector<OriginRecord>& origins, int64_t now_ms);

  // Queues one result for the writer. Never blocks (a short mutex only);
  // returns false when the queue is full (counted in dropped_queue_full) or the
  // store is closed.
  // Thread-safe. `lead` is the origin's lead finding at the time of the probe,
  // stored in variant_state; `hook` runs in the item's transaction after
  // Options::on_written.
  bool Enqueue(ProbeResult result, std::optional<FindingRecord> lead = std::nullopt,
               WriteHook hook = nullptr);

  // Blocks until every item enqueued before the call is committed or failed.
  void Flush();

  // Flushes, stops the writer thread and closes the database. Idempotent.
  void Close();

  Stats stats() const;  // thread-safe

  // Retention: deletes probe rows with ts < older_than_ms in steps of at most
  // max_rows_per_step rows, each step its own short transaction on the writer
  // thread (batches run between steps), then leaf changes older than the
  // cutoff and the chains and certificates no probe references any more.
  // Blocks the caller until done.
  Status Prune(int64_t older_than_ms, int max_rows_per_step = 5000);

  // Runs fn in its own transaction (BEGIN IMMEDIATE) on the writer thread,
  // between batches: commits when fn returns OK, rolls back when it returns an
  // error (or the commit fails) and returns that error. Blocks the caller until
  // done; Unavailable once the store is closed. The WriteTxn is valid only
  // during the call. Used by components that write outside a probe (the
  // webhook sender records deliveries). Never call it from the writer thread
  // (a hook or fn itself): it would wait for itself.
  Status Write(std::function<Status(WriteTxn&)> fn);

  struct Impl;  // defined in src/store/store.cc

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Runs `sql` (one or more statements; the rows of the last statement that
// returns columns) on a read-only connection (SQLITE_OPEN_READONLY and PRAGMA
// query_only): never creates the file; a write statement fails with SQLite's
// "attempt to write a readonly database". Errors carry SQLite's message and,
// when SQLite knows it, the position: "near "FRM": syntax error (line 2,
// column 10)". A missing file is NotFound ("cannot open database "<path>":
// no such file").
Result<QueryResult> RunQuery(const std::string& db_path, const std::string& sql,
                             const std::vector<SqlValue>& params = {});

// Output formats. Table: aligned columns, NULL shown as "NULL", control
// characters escaped (\xNN) so hostile certificate text cannot drive the
// terminal. CSV: RFC 4180 quoting, a header row, "\n" line ends, NULL as an
// empty field. JSON: an array of objects, one per row, numbers as numbers.
// All three replace invalid UTF-8 with U+FFFD.
std::string FormatTable(const QueryResult& result);
std::string FormatCsv(const QueryResult& result);
std::string FormatJson(const QueryResult& result);

// Canned reports, read-only like RunQuery:
//   "expiring": leaf certificates served now, with origins and days left at
//               now_ms, soonest first; arg = max days left ("" = all).
//   "failing":  variants whose latest probe failed: since when, how many
//               failures, outcome, lead finding; arg unused.
//   "changes":  leaf certificate changes, newest first; arg = origin ("" = all).
//   "origin":   arg = origin name: one row per variant (section "latest") then
//               its last 20 probes (section "probe"), in one table.
// Unknown kind: InvalidArgument; unknown origin: NotFound.
Result<QueryResult> Report(const std::string& db_path, std::string_view kind, std::string_view arg,
                           int64_t now_ms);

}  // namespace originwatch
