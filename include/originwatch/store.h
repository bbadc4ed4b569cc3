// The SQLite history of every probe (schema: schema/*.sql, docs/storage.md).
//
// This component is the only one with SQL: every statement of the schema
// lives under src/store.
//
// Write side: Store. One writer thread owns the only read-write connection.
// The evaluator hands it Commit values with Enqueue(), which never blocks: the
// commit goes into a bounded queue, and when the queue is full it is dropped
// and counted. The writer commits the queue in batches, one transaction per
// batch; everything one commit holds (the probe row, its certificates and
// chain, the variant's new state, the alert states, events and outbox rows) is
// written in that transaction, and a commit is either written whole or not at
// all (when one fails, the batch is written again with one savepoint per
// commit, so the failing one rolls back alone): an alert is never lost and
// never sent for data that was not saved.
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

#include "originwatch/known_certs.h"
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

// One alert event as the store records it (alert.h AlertEvent, flattened, with
// its deterministic id, the webhook body built once, and the webhooks it is
// routed to: one outbox row each). Schema: schema/002_alerts.sql.
struct EventRecord {
  std::string event_id;  // idempotency key (unique)
  std::string kind;      // firing | updated | resolved | event
  std::string rule;
  std::string severity;  // info | warning | critical
  std::string dedup_key;
  std::string origin;
  std::string tags;  // comma-joined
  std::string variant;
  std::string address;
  std::string finding_code;
  std::string summary;
  std::string fix;
  int64_t at_ms = 0;
  std::string payload;  // the webhook body (JSON)
  std::vector<std::string> webhooks;
};

// One row of table alert_state: the evaluator's persistent state of a variant
// ("variant:<origin>|<variant key>"), a certificate ("cert:<sha256>"), an
// origin's address book ("addresses:<origin>") or DNS rule ("dns:<origin>").
struct StateRecord {
  std::string key;
  std::string value;   // JSON
  bool erase = false;  // delete the row instead
};

// The per-key event counter (table alert_episodes) event ids derive from:
// `episode` counts firings (and one-shot events) of the key and is never
// reused; `updates` counts severity changes within the current episode.
struct EpisodeRecord {
  std::string dedup_key;
  int64_t episode = 0;
  int64_t updates = 0;
};

// Everything the evaluator decided about one input, written whole or not at
// all within a batch: the probe row (with its certificates, chain and variant state),
// the alert states, the episode counters, the events with their outbox rows,
// and the open alerts seen again. Either all of it is written or none.
// The run counts of a variant as the evaluator keeps them (alert.h): the
// store records these in variant_state instead of counting on its own, so the
// `failing` view and the alert rules count the same failures.
struct VariantCounts {
  int64_t consecutive_failures = 0;
  int64_t consecutive_successes = 0;
  int64_t failing_since_ms = 0;
};

struct Commit {
  std::optional<ProbeResult> probe;  // nullopt: a DNS or configuration commit
  std::optional<FindingRecord> lead;  // the origin's lead finding, stored in variant_state
  std::optional<VariantCounts> counts;  // with probe; nullopt: the store counts (no evaluator)
  std::vector<StateRecord> states;
  std::vector<EpisodeRecord> episodes;
  std::vector<EventRecord> events;
  // Open alerts seen bad again: their last_seen_ms becomes at_ms.
  std::vector<std::string> seen_keys;
  // Open alerts whose origin list changed (cert_expiry): key -> origins.
  std::vector<std::pair<std::string, std::string>> alert_origins;
  int64_t at_ms = 0;

  bool empty() const {
    return !probe && states.empty() && episodes.empty() && events.empty() && seen_keys.empty() &&
           alert_origins.empty();
  }
};

// What the evaluator restores at start.
struct AlertSnapshot {
  std::vector<StateRecord> states;
  std::vector<EpisodeRecord> episodes;
};

// The oldest pending outbox row of one webhook, with its event.
struct OutboxEntry {
  int64_t id = 0;
  std::string webhook;
  int64_t attempts = 0;
  int64_t next_attempt_ms = 0;
  int64_t created_ms = 0;
  std::string last_error;
  EventRecord event;  // webhooks left empty; payload and dedup_key filled
  int64_t alert_opened_ms = 0;  // when the event's alert opened; 0 = no alert (one-shot)
};

// The outcome of one delivery attempt (or an expiry without attempt).
struct DeliveryRecord {
  int64_t outbox_id = 0;
  int64_t attempts = 0;         // attempts so far, this one included
  std::string state;            // pending | delivered | failed
  int64_t next_attempt_ms = 0;  // when still pending
  std::string last_error;       // "" = none
  int64_t done_ms = 0;          // when not pending
  bool attempted = false;       // a deliveries row is written only for an attempt
  int64_t at_ms = 0;            // of the attempt
  int http_status = 0;          // 0 = no HTTP answer
  std::string error;
  int64_t duration_ms = 0;
};

// Whether the store's writes reach the database (Store::Options::on_write_health).
struct WriteHealth {
  bool writable = true;
  std::string error;       // the database's refusal (also when writable again: the last one)
  int64_t since_ms = 0;    // unix ms writes started failing
  int64_t at_ms = 0;       // unix ms of this change
  uint64_t held = 0;       // commits waiting to be written
  uint64_t dropped = 0;    // probe rows dropped: so far (failing) / during the outage (writable)
};

class Store {
 public:
  struct Options {
    std::string path;
    size_t queue_capacity = 65536;  // items waiting for the writer; beyond: dropped
    int batch_max_items = 512;      // items per transaction
    // Items per transaction while more than 4 x batch_max_items wait: a writer
    // that falls behind catches up with fewer, larger commits. Never less than
    // batch_max_items.
    int deep_batch_max_items = 32768;
    int batch_max_ms = 200;         // longest an item waits for its batch to fill
    int busy_timeout_ms = 5000;     // PRAGMA busy_timeout of the writer connection
    // Called on the writer thread after each batch that wrote at least one item
    // has committed (e.g. to wake the webhook sender: the outbox rows are now
    // visible). Must not block.
    std::function<void()> on_committed;
    // The fingerprints the store holds (known_certs.h), shared with the engine;
    // may be null. Open adds every stored certificate that has its DER; after
    // each commit the writer adds the certificates that transaction stored
    // with their DER; retention removes the ones it deletes. A CertInfo with an empty `der` is
    // accepted: an existing row is only referenced (its DER is never replaced
    // by an empty one); a missing row is stored with its facts and an empty
    // DER (Stats::certs_without_der), filled in when a later result brings it.
    std::shared_ptr<KnownCertificates> known_certs;
    // When the database refuses a write (disk full, I/O error, read-only,
    // locked by another process) the batch is held and retried after
    // retry_min_ms, then twice as long each time up to retry_max_ms. What
    // arrives meanwhile waits in the queue (queue_capacity); beyond it a
    // commit's probe row is dropped (Stats::dropped_unwritable) but its alert
    // part (states, episodes, events) is always kept. Writing resumes by itself.
    int retry_min_ms = 500;
    int retry_max_ms = 10000;
    // Called on the writer thread when writes start failing and when they
    // succeed again (not for every retry). Must not block for long.
    std::function<void(const WriteHealth&)> on_write_health;
  };

  struct Stats {
    uint64_t enqueued = 0;            // accepted by Enqueue
    uint64_t committed = 0;           // probe rows whose transaction committed
    uint64_t commits = 0;             // commits written (with or without a probe row)
    uint64_t dropped_queue_full = 0;  // refused by Enqueue
    uint64_t batches = 0;             // committed transactions holding items
    uint64_t pruned = 0;              // probe rows deleted by Prune
    uint64_t write_errors = 0;        // items rolled back (hook failure, SQLite error)
    uint64_t queue_depth = 0;         // items waiting now (not yet taken by the writer)
    uint64_t writer_cpu_ns = 0;       // CPU time of the writer thread, as of its last batch
    uint64_t certs_without_der = 0;   // certificate rows stored without DER (empty CertInfo::der)
    // Probe rows lost because the database could not be written: beyond the
    // queue while writes failed, or still held when the store closed.
    uint64_t dropped_unwritable = 0;
    bool writable = true;              // false while writes fail
    int64_t unwritable_since_ms = 0;   // unix ms of the first failure; 0 while writable
    uint64_t held = 0;                 // commits waiting for the database to take writes again
    uint64_t write_retries = 0;        // failed attempts to write a held batch
    std::string last_write_error;      // the database's last refusal ("" = none yet)
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

  // Queues one commit for the writer. Never blocks (a short mutex only);
  // returns false when the queue is full (counted in dropped_queue_full) or the
  // store is closed. Thread-safe. Commits are written in the order they were
  // queued.
  bool Enqueue(Commit commit);
  // Convenience for a bare probe row (`originwatch probe`, tests).
  bool Enqueue(ProbeResult result, std::optional<FindingRecord> lead = std::nullopt);

  // Reads every alert state and episode counter (at start, before the first
  // commit). Runs on the writer thread; blocks the caller.
  Result<AlertSnapshot> LoadAlertSnapshot();

  // Records the outcome of a delivery: a deliveries row for an attempt, and the
  // outbox row's new state (only while it is still pending). Runs on the
  // writer thread between batches; blocks the caller. Unavailable once closed.
  Status RecordDelivery(const DeliveryRecord& d);

  // Blocks until every item enqueued before the call is committed or failed;
  // returns at once while the database refuses writes (Stats::writable).
  void Flush();

  // Flushes, stops the writer thread and closes the database. Idempotent.
  // While the database refuses writes, the held commits get one last try;
  // what still cannot be written is counted (Stats::dropped_unwritable) and logged.
  void Close();

  Stats stats() const;  // thread-safe

  // Retention: deletes probe rows with ts < older_than_ms in steps of at most
  // max_rows_per_step rows, each step its own short transaction on the writer
  // thread (batches run between steps), then leaf changes older than the
  // cutoff and the chains and certificates no probe references any more.
  // Blocks the caller until done.
  Status Prune(int64_t older_than_ms, int max_rows_per_step = 5000);

  struct Impl;  // defined in src/store/store_impl.h

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Runs `sql` (one or more statements; the rows of the last statement that
// returns columns) on a read-only connection (SQLITE_OPEN_READONLY and PRAGMA
// query_only): never creates the file; a write statement fails with SQLite's
// "attempt to write a readonly database"; ATTACH, VACUUM and the statements
// StreamQuery lists are refused. Errors carry SQLite's message and,
// when SQLite knows it, the position: "near "FRM": syntax error (line 2,
// column 10)". A missing file is NotFound ("cannot open database "<path>":
// no such file").
Result<QueryResult> RunQuery(const std::string& db_path, const std::string& sql,
                             const std::vector<SqlValue>& params = {});

// Output formats. Table: aligned columns, NULL shown as "NULL", control
// characters escaped (\xNN) so hostile certificate text cannot drive the
// terminal. CSV: RFC 4180 quoting, a header row, "\n" line ends, NULL as an
// empty field, control characters escaped like the table (\xNN). JSON: an
// array of objects, one per row, numbers as numbers. All three replace
// invalid UTF-8 with U+FFFD.
std::string FormatTable(const QueryResult& result);
std::string FormatCsv(const QueryResult& result);
std::string FormatJson(const QueryResult& result);

// Streaming read side (`originwatch query`, `originwatch report`): rows go to
// a RowSink as SQLite steps them, so memory stays flat whatever the result
// size. docs/query.md describes the limits and formats.

// One cell of the current row. `text` points into SQLite's buffers and is
// valid only during the RowSink::Row call that carries it.
struct QueryCell {
  std::string_view text;  // SQLite's text form; BLOBs as lower-case hex
  bool null = false;
  bool numeric = false;  // INTEGER or REAL (JSON writes a number)
};

// Receives one result: Begin once, Row per row, End once: after the last row,
// a limit, or an error that came after some rows (so a document stays
// well-formed); not after an error before the first row. Row and End return
// false when the output failed (the query stops). Called on the caller's
// thread.
class RowSink {
 public:
  virtual ~RowSink() = default;
  virtual void Begin(const std::vector<std::string>& columns) = 0;
  virtual bool Row(const std::vector<QueryCell>& cells) = 0;
  virtual bool End() = 0;
};

// Writers of the three formats over a byte sink (`write` returns false when
// the output failed). They buffer up to 64 KiB between writes. Table: the
// column widths come from a look-ahead of the first kTableLookaheadRows rows
// (or 1 MiB of text); later rows use those widths, and a longer cell widens
// its own row only (nothing is cut). `empty_text`, when not empty, is printed
// by the table instead of a header and "(0 rows)" for an empty result. CSV
// writes control characters as the 4-character text \xNN (ESC as \x1B, NUL as
// \x00, newline as \x0A), so one row is one line. Unknown format: nullptr.
inline constexpr size_t kTableLookaheadRows = 1000;
std::unique_ptr<RowSink> MakeRowWriter(std::string_view format,
                                       std::function<bool(std::string_view)> write,
                                       std::string empty_text = "");

// Bounds of a streamed query; 0 = none.
struct QueryLimits {
  int64_t max_rows = 0;    // more rows than this stop the query after max_rows
  int64_t timeout_ms = 0;  // wall time from the start (SQLite's progress handler)
};

// Why a streamed query ended early. kMemory: SQLite ran out of its heap limit
// (LimitSqliteHeap).
enum class QueryStop { kNone, kMaxRows, kTimeout, kMemory };

struct QueryStreamResult {
  int64_t rows = 0;                   // rows the sink received
  QueryStop stop = QueryStop::kNone;  // kNone: every row was delivered
  std::string detail;                 // SQLite's message for kMemory
};

// RunQuery, streamed: the rows of the last statement that returns columns go
// to `sink` as they are stepped (the statements before it run with their rows
// discarded). Besides RunQuery's read-only connection, an authorizer refuses
// ATTACH, DETACH, VACUUM (also VACUUM INTO), load_extension(), fts3_tokenizer()
// and the PRAGMAs that change the connection's safety or touch files, when the
// statement is prepared, before SQLite opens any file: InvalidArgument naming
// what was refused. A limit or SQLite's heap limit is not an error: the rows
// so far were delivered and `stop` says why it ended. Other errors: as
// RunQuery (which is StreamQuery collecting every row, with no limits).
Result<QueryStreamResult> StreamQuery(const std::string& db_path, const std::string& sql,
                                      const std::vector<SqlValue>& params,
                                      const QueryLimits& limits, RowSink& sink);

// The heap cap of the one-shot commands (`query`, `report`).
inline constexpr int64_t kQueryHeapLimitBytes = int64_t{256} << 20;
// sqlite3_hard_heap_limit64 for the whole process: every connection of the
// process shares it, so only one-shot commands call it, never the agent.
void LimitSqliteHeap(int64_t bytes);

// Canned reports, read-only like RunQuery:
//   "expiring": leaf certificates served now, with origins and days left at
//               now_ms, soonest first; arg = max days left ("" = all).
//   "failing":  variants whose latest probe failed: since when, how many
//               failures, outcome, lead finding; arg unused.
//   "changes":  leaf certificate changes, newest first; arg = origin ("" = all).
//   "origin":   arg = origin name: one row per variant (section "latest") then
//               its last 20 probes (section "probe"), in one table.
//   "open_alerts":  the open alerts, most severe first; arg unused.
//   "alert_events": the newest events with their delivery per webhook; arg =
//               how many ("" = 50).
// Unknown kind: InvalidArgument; unknown origin: NotFound.
// The oldest pending outbox row of every webhook with its event, in id order,
// read on a read-only connection like RunQuery (the webhook sender's poll).
Result<std::vector<OutboxEntry>> PendingOutboxHeads(const std::string& db_path);
// The open alerts (table alerts) as events for Alertmanager's re-sends: kind
// "firing", dedup_key, rule, severity, origin, variant, address, finding_code,
// summary, fix, at_ms = opened_ms, and the tags of the alert's newest event.
// Read-only like RunQuery.
Result<std::vector<EventRecord>> OpenAlertEvents(const std::string& db_path);

Result<QueryResult> Report(const std::string& db_path, std::string_view kind, std::string_view arg,
                           int64_t now_ms);
// Report, streamed to `sink` under `limits` like StreamQuery.
Result<QueryStreamResult> StreamReport(const std::string& db_path, std::string_view kind,
                                       std::string_view arg, int64_t now_ms,
                                       const QueryLimits& limits, RowSink& sink);

// Fleet queries (`query --db A --db B`, `report ... --db A --db B`): up to
// kMaxFleetDatabases agents' databases read as one, each row with a `source`
// column first: the database's file name without ".db", or its path when two
// names clash (FleetSourceNames).
inline constexpr size_t kMaxFleetDatabases = 10;
std::vector<std::string> FleetSourceNames(const std::vector<std::string>& db_paths);

// StreamQuery over the union of the databases: they are attached read-only
// (mode=ro) to an in-memory connection, and every table and view of the first
// gets a temporary view of the same name that is the UNION ALL of that object
// in each database, with `source` as its first column (so `SELECT * FROM
// latest` answers for the fleet; join tables on source too: their ids are
// per database). Then query_only is set and the statement runs under
// StreamQuery's authorizer and limits (ATTACH from SQL stays refused).
// InvalidArgument for no database, more than kMaxFleetDatabases, or
// databases of different schema versions; NotFound for a missing file.
Result<QueryStreamResult> StreamFleetQuery(const std::vector<std::string>& db_paths, const std::string& sql,
                                           const std::vector<SqlValue>& params, const QueryLimits& limits,
                                           RowSink& sink);

// StreamReport of each database (read-only, as StreamReport), merged with
// `source` first: "failing" ordered by since, "expiring" by not_after, the
// other kinds database by database. The rows are collected before they are
// written (a report is one row per variant or certificate); max_rows applies
// to the merged rows, timeout_ms to the whole.
Result<QueryStreamResult> StreamFleetReport(const std::vector<std::string>& db_paths, std::string_view kind,
                                            std::string_view arg, int64_t now_ms, const QueryLimits& limits,
                                            RowSink& sink);

}  // namespace originwatch
