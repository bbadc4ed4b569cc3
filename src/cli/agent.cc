#include "originwatch/clock.h"
#include "cli/agent.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "alert/lifecycle.h"
#include "originwatch/config.h"
#include "originwatch/diagnose.h"
#include "originwatch/engine.h"
#include "originwatch/log.h"
#include "originwatch/plan.h"
#include "originwatch/scheduler.h"
#include "originwatch/store.h"
#include "originwatch/webhook.h"

namespace originwatch::cli {
namespace {

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// What one engine thread runs: its shard of the plan, and the settings its
// Engine is built from. Handed over under a mutex; the thread picks it up
// within one loop turn.
struct ShardPlan {
  std::vector<ScheduledProbe> probes;
  std::map<std::string, std::string> dns_errors;  // origin -> resolver message
  EngineOptions engine_options;
  Scheduler::Options scheduler_options;
  std::vector<ClientProfile> profiles;
  std::shared_ptr<const alert::AlertContext> alerts;
};

bool SameEngineOptions(const EngineOptions& a, const EngineOptions& b) {
  if (a.ca_file != b.ca_file || a.profiles.size() != b.profiles.size()) return false;
  for (size_t i = 0; i < a.profiles.size(); ++i) {
    const ClientProfile& x = a.profiles[i];
    const ClientProfile& y = b.profiles[i];
    if (x.name != y.name || x.min_version != y.min_version || x.max_version != y.max_version ||
        x.ciphers != y.ciphers || x.ciphersuites != y.ciphersuites || x.groups != y.groups ||
        x.alpn != y.alpn)
      return false;
  }
  return true;
}

class EngineShard {
 public:
  EngineShard(int index, Store* store) : index_(index), store_(store) {}

  // Starts the thread and waits until its Engine exists (or failed).
  Status Start(ShardPlan plan) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_ = std::move(plan);
    }
    thread_ = std::thread([this] { Loop(); });
    std::unique_lock<std::mutex> lock(mu_);
    started_cv_.wait(lock, [this] { return started_; });
    return start_status_;
  }

  void Update(ShardPlan plan) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = std::move(plan);
  }

  // Stop every shard first, then Join them all: shards drain in parallel, so
  // shutdown takes one probe timeout, not one per engine thread.
  void RequestStop() { stop_.store(true); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  void Stop() {
    RequestStop();
    Join();
  }

  Scheduler::Stats scheduler_stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sched_stats_;
  }
  uint64_t dropped() const { return dropped_.load(); }
  uint64_t completed() const { return completed_.load(); }

 private:
  void Loop() {
    std::optional<ShardPlan> plan;
    {
      std::lock_guard<std::mutex> lock(mu_);
      plan = std::move(pending_);
      pending_.reset();
    }
    Status st = BuildEngine(plan->engine_options);
    {
      std::lock_guard<std::mutex> lock(mu_);
      start_status_ = st;
      started_ = true;
    }
    started_cv_.notify_all();
    if (!st.ok()) return;
    scheduler_ = std::make_unique<Scheduler>(plan->scheduler_options);
    Apply(std::move(*plan));

    while (!stop_.load()) {
      std::optional<ShardPlan> next;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (pending_) {
          next = std::move(pending_);
          pending_.reset();
        }
      }
      if (next) {
        if (!SameEngineOptions(next->engine_options, engine_options_)) {
          // Profiles or CA changed: let the old engine finish its probes, then
          // build the new one. Deadlines bound the wait.
          engine_->RunUntilIdle();
          Status s = BuildEngine(next->engine_options);
          if (!s.ok()) {
            // The main thread validated these options; if the engine still
            // cannot be built (the CA file vanished since), keep probing with
            // the old one rather than stop.
            Log(LogLevel::kError, "", "engine " + std::to_string(index_) + ": " + s.message() +
                                          "; keeping the previous profiles and CA");
            next->engine_options = engine_options_;
          }
        }
        Apply(std::move(*next));
      }
      int64_t now = UnixNowMs();
      std::vector<ProbeSpec> due_now = scheduler_->TakeDue(now);
      const bool started_any = !due_now.empty();
      for (ProbeSpec& spec : due_now) StartProbe(std::move(spec), now);
      int wait = 250;
      if (auto due = scheduler_->NextDue()) {
        wait = static_cast<int>(std::clamp<int64_t>(*due - UnixNowMs(), 0, 250));
        // Due but held back by a per-address cap: wait for a completion
        // rather than spin.
        if (wait == 0 && !started_any) wait = 10;
      }
      engine_->Poll(wait);
      std::lock_guard<std::mutex> lock(mu_);
      sched_stats_ = scheduler_->stats();
    }
    // Drain: nothing new starts; every probe in flight ends by its deadline.
    if (engine_) engine_->RunUntilIdle();
    std::lock_guard<std::mutex> lock(mu_);
    sched_stats_ = scheduler_->stats();
  }

  // Builds the new engine before the old one goes: on failure nothing changes.
  Status BuildEngine(const EngineOptions& opts) {
    auto e = Engine::Create(opts);
    if (!e.ok()) return e.status();
    engine_ = std::move(e).value();
    engine_options_ = opts;
    Log(LogLevel::kDebug, "", "engine " + std::to_string(index_) + ": ring " + engine_->ring_mode() +
                                  ", trust " + engine_->ca_description());
    return Status::Ok();
  }

  void Apply(ShardPlan plan) {
    profiles_ = plan.profiles;
    alerts_ = plan.alerts;
    dns_errors_ = std::move(plan.dns_errors);
    // Forget the latest results of variants that are gone.
    std::unordered_map<std::string, bool> keep;
    for (const ScheduledProbe& p : plan.probes) keep[ScheduleKey(p.spec)] = true;
    for (auto it = latest_.begin(); it != latest_.end();) {
      for (auto v = it->second.begin(); v != it->second.end();) {
        v = keep.count(v->first) ? std::next(v) : it->second.erase(v);
      }
      it = it->second.empty() ? latest_.erase(it) : std::next(it);
    }
    scheduler_->SetProbes(std::move(plan.probes), UnixNowMs());
  }

  void StartProbe(ProbeSpec spec, int64_t now) {
    if (spec.address.empty()) {
      // The origin's name did not resolve at the last (re)load.
      ProbeResult r;
      r.spec = std::move(spec);
      r.started_at_ms = now;
      r.outcome = Outcome::kDnsError;
      auto it = dns_errors_.find(r.spec.origin);
      r.error_text = it != dns_errors_.end() ? it->second : "the name did not resolve";
      return Finished(std::move(r));
    }
    engine_->Submit(std::move(spec), [this](ProbeResult&& r) { Finished(std::move(r)); });
  }

  void Finished(ProbeResult&& r) {
    scheduler_->Complete(r.spec.id);
    completed_.fetch_add(1);
    const std::string key = ScheduleKey(r.spec);
    auto& variants = latest_[r.spec.origin];
    // Keep a copy without certificate bytes for the diagnosis of the next
    // results of this origin (the store keeps the DER).
    ProbeResult copy = r;
    for (CertInfo& c : copy.chain) c.der.clear();
    auto prev = variants.find(key);
    const bool was_ok = prev != variants.end() && prev->second.ok();
    const bool first = prev == variants.end();
    variants[key] = std::move(copy);

    std::vector<ProbeResult> all;
    all.reserve(variants.size());
    for (const auto& [k, v] : variants) all.push_back(v);
    DiagnoseOptions dopts;
    dopts.now_s = UnixNowMs() / 1000;
    dopts.profiles = profiles_;
    Diagnosis d = Diagnose(all, dopts);

    if (r.ok() != was_ok || first) {
      std::string msg = r.VariantLabel() + " address=" + r.spec.address + ": " +
                        (r.ok() ? "handshake ok (" + r.version + ")"
                                : "handshake fails: " + std::string(OutcomeCode(r.outcome)) +
                                      (r.alert >= 0 ? " alert " + std::to_string(r.alert) : "") +
                                      (r.error_text.empty() ? "" : " (" + r.error_text + ")"));
      // A first success is routine (debug); a change of state is news.
      Log(r.ok() ? (first ? LogLevel::kDebug : LogLevel::kInfo) : LogLevel::kWarn, r.spec.origin, msg);
    }
    FindingRecord lead{d.lead().code, d.lead().summary};
    // The alert rules run in the writer's transaction, against the state stored
    // with this very probe row. They see this result and the latest results
    // of the origin's other variants (certificate bytes left out).
    WriteHook hook;
    if (alerts_) {
      std::vector<ProbeResult> siblings;
      for (const auto& [k, v] : variants)
        if (k != key) siblings.push_back(v);
      const int64_t at_ms = r.started_at_ms + r.total_ms;
      hook = [ctx = alerts_, self = variants[key], siblings = std::move(siblings), at_ms](
                 WriteTxn& txn, const WrittenProbe& w) {
        return alert::ApplyProbe(txn, w, self, siblings, *ctx, at_ms);
      };
    }
    if (!store_->Enqueue(std::move(r), std::move(lead), std::move(hook))) {
      if (dropped_.fetch_add(1) % 1000 == 0)
        Log(LogLevel::kError, "", "store queue full: a probe result was dropped (counted)");
    }
  }

  const int index_;
  Store* store_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> completed_{0};
  mutable std::mutex mu_;
  std::condition_variable started_cv_;
  bool started_ = false;
  Status start_status_;
  std::optional<ShardPlan> pending_;
  Scheduler::Stats sched_stats_;

  // Engine thread only.
  std::unique_ptr<Engine> engine_;
  EngineOptions engine_options_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<ClientProfile> profiles_;
  std::shared_ptr<const alert::AlertContext> alerts_;
  std::map<std::string, std::string> dns_errors_;
  std::unordered_map<std::string, std::map<std::string, ProbeResult>> latest_;
};

// Splits the config into one plan per engine thread. Resolves names here, on
// the main thread.
std::vector<ShardPlan> BuildPlans(const AgentConfig& cfg, int shards,
                                  std::shared_ptr<const alert::AlertContext> alerts,
                                  std::map<std::string, std::vector<std::string>>* resolved_out) {
  std::vector<ShardPlan> plans(static_cast<size_t>(shards));
  for (ShardPlan& p : plans) {
    p.alerts = alerts;
    p.engine_options.ca_file = cfg.ca_file;
    p.engine_options.profiles = cfg.profiles;
    p.scheduler_options.max_in_flight = std::max(1, cfg.max_in_flight / shards);
    p.scheduler_options.max_per_address = cfg.max_per_address;
    p.profiles = cfg.profiles;
  }
  for (const OriginConfig& o : cfg.origins) {
    ShardPlan& plan = plans[Fnv1a(o.name) % static_cast<uint64_t>(shards)];
    std::vector<std::string> addresses = o.connect;
    if (addresses.empty()) {
      auto resolved = ResolveAddresses(o.host);
      if (resolved.ok()) {
        addresses = resolved.value();
        (*resolved_out)[o.name] = addresses;
      } else {
        Log(LogLevel::kWarn, o.name, resolved.status().message());
        plan.dns_errors[o.name] = resolved.status().message();
        addresses = {""};
      }
    }
    for (ScheduledProbe& sp : PlanOrigin(o, addresses)) plan.probes.push_back(std::move(sp));
  }
  return plans;
}

// Origins whose name did not resolve when the plans were built.
std::set<std::string> DnsFailures(const std::vector<ShardPlan>& plans) {
  std::set<std::string> out;
  for (const ShardPlan& p : plans)
    for (const auto& [origin, message] : p.dns_errors) out.insert(origin);
  return out;
}

// How often names are resolved again: once per interval, between 10 s and
// 5 min. (getaddrinfo, on the main thread; a TTL-driven resolver in the loop
// is the DNS component's job.) 0 when every origin has fixed addresses.
int64_t ResolvePeriodMs(const AgentConfig& cfg) {
  bool any = false;
  for (const OriginConfig& o : cfg.origins) any |= o.connect.empty();
  if (!any) return 0;
  return std::clamp<int64_t>(cfg.interval_ms, 10000, 300000);
}

std::vector<OriginRecord> OriginRecords(const AgentConfig& cfg) {
  std::vector<OriginRecord> out;
  for (const OriginConfig& o : cfg.origins) out.push_back({o.name, o.host, o.port, o.tags});
  return out;
}

// Records the address set of every origin that resolved (addresses_changed
// events when it differs from the one stored at the last load).
void RecordAddresses(Store& store, const std::map<std::string, std::vector<std::string>>& resolved,
                     const alert::AlertContext& ctx) {
  if (resolved.empty()) return;
  const int64_t now = UnixNowMs();
  Status s = store.Write([&](WriteTxn& txn) -> Status {
    for (const auto& [origin, addresses] : resolved) {
      if (Status st = alert::ApplyAddresses(txn, origin, addresses, ctx, now); !st.ok()) return st;
    }
    return Status::Ok();
  });
  if (!s.ok()) Log(LogLevel::kError, "", "recording address sets: " + s.message());
}

// Closes the alerts of origins and variants the plan no longer probes.
void RetireRemoved(Store& store, const alert::AlertContext& ctx, const std::vector<ShardPlan>& plans) {
  std::set<std::string> planned;
  for (const ShardPlan& p : plans) {
    for (const ScheduledProbe& sp : p.probes)
      planned.insert(alert::PlannedVariantKey(sp.spec.origin, sp.spec.address, sp.spec.sni, sp.spec.profile));
  }
  const int64_t now = UnixNowMs();
  Status s = store.Write([&](WriteTxn& txn) { return alert::RetireRemoved(txn, ctx, &planned, now); });
  if (!s.ok()) Log(LogLevel::kError, "", "closing alerts of removed origins: " + s.message());
}

// The profiles and CA file of a configuration, checked by OpenSSL on this
// thread, so that a reload the engines would refuse is rejected before it
// changes anything.
Status ValidateTls(const AgentConfig& cfg) {
  EngineOptions o;
  o.profiles = cfg.profiles;
  o.ca_file = cfg.ca_file;
  return Engine::CheckOptions(o);
}

void LogConfigErrors(const std::vector<ConfigError>& errors) {
  for (const ConfigError& e : errors) Log(LogLevel::kError, "", e.ToString());
}

}  // namespace

int RunAgent(const AgentArgs& args) {
  LoadResult loaded = LoadConfigFile(args.config_path);
  if (!loaded.ok()) {
    for (const ConfigError& e : loaded.errors) std::fprintf(stderr, "%s\n", e.ToString().c_str());
    std::fprintf(stderr, "originwatch run: %zu error(s) in %s: not starting\n", loaded.errors.size(),
                 args.config_path.c_str());
    return 2;
  }
  AgentConfig cfg = std::move(*loaded.config);
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(cfg.log_level, &level);
  SetLogLevel(level);

  // Many probes in flight need many descriptors.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  // Signals are taken synchronously by the main thread only: block them
  // before any thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Store::Options sopts;
  sopts.path = cfg.database;
  // Events committed with a batch are delivered at once, not at the sender's
  // next poll. The sender starts after the store: until then the slot is empty.
  auto sender_slot = std::make_shared<std::atomic<WebhookSender*>>(nullptr);
  sopts.on_committed = [sender_slot] {
    if (WebhookSender* s = sender_slot->load()) s->Wake();
  };
  auto store_or = Store::Open(sopts);
  if (!store_or.ok()) {
    std::fprintf(stderr, "originwatch run: %s\n", store_or.status().message().c_str());
    return 2;
  }
  std::unique_ptr<Store> store = std::move(store_or).value();
  if (Status s = store->SyncOrigins(OriginRecords(cfg), UnixNowMs()); !s.ok()) {
    std::fprintf(stderr, "originwatch run: %s\n", s.message().c_str());
    return 2;
  }
  auto alerts_or = alert::BuildAlertContext(cfg);
  if (!alerts_or.ok()) {
    std::fprintf(stderr, "originwatch run: %s\n", alerts_or.status().message().c_str());
    return 2;
  }
  std::shared_ptr<const alert::AlertContext> alerts = alerts_or.value();
  // Webhook delivery: its own thread; pending rows of an earlier run resume.
  WebhookGlobalInit();
  WebhookSender::Options wopts;
  wopts.db_path = cfg.database;
  wopts.store = store.get();
  wopts.webhooks = cfg.webhooks;
  auto sender_or = WebhookSender::Start(wopts);
  if (!sender_or.ok()) {
    std::fprintf(stderr, "originwatch run: %s\n", sender_or.status().message().c_str());
    return 2;
  }
  std::unique_ptr<WebhookSender> sender = std::move(sender_or).value();
  sender_slot->store(sender.get());

  const int shards = cfg.engine_threads;
  std::vector<std::unique_ptr<EngineShard>> engines;
  std::map<std::string, std::vector<std::string>> resolved;
  std::vector<ShardPlan> plans = BuildPlans(cfg, shards, alerts, &resolved);
  RecordAddresses(*store, resolved, *alerts);
  RetireRemoved(*store, *alerts, plans);
  std::set<std::string> dns_failed = DnsFailures(plans);
  int64_t next_resolve = ResolvePeriodMs(cfg) > 0 ? UnixNowMs() + ResolvePeriodMs(cfg) : 0;
  size_t total_probes = 0;
  for (const ShardPlan& p : plans) total_probes += p.probes.size();
  for (int i = 0; i < shards; ++i) {
    engines.push_back(std::make_unique<EngineShard>(i, store.get()));
    if (Status s = engines.back()->Start(std::move(plans[static_cast<size_t>(i)])); !s.ok()) {
      std::fprintf(stderr, "originwatch run: %s\n", s.message().c_str());
      for (auto& e : engines) e->Stop();
      sender_slot->store(nullptr);
      sender->Stop();
      store->Close();
      return s.code() == Status::Code::kInvalidArgument ? 2 : 1;
    }
  }
  Log(LogLevel::kInfo, "",
      "started: " + std::to_string(cfg.origins.size()) + " origins, " + std::to_string(total_probes) +
          " probes per interval round, " + std::to_string(shards) + " engine thread(s), database " +
          cfg.database);

  const int64_t started = UnixNowMs();
  int64_t next_prune = started;
  int64_t next_stats = started + 60000;
  int exit_code = 0;
  for (;;) {
    timespec ts{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&signals, nullptr, &ts);
    int64_t now = UnixNowMs();
    if (sig == SIGTERM || sig == SIGINT) {
      Log(LogLevel::kInfo, "", std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                                   ": draining in-flight probes");
      break;
    }
    if (args.duration_ms > 0 && now - started >= args.duration_ms) {
      Log(LogLevel::kInfo, "", "run duration reached: draining in-flight probes");
      break;
    }
    if (sig == SIGHUP) {
      LoadResult next = LoadConfigFile(args.config_path);
      if (!next.ok()) {
        LogConfigErrors(next.errors);
        Log(LogLevel::kError, "", "reload rejected: " + std::to_string(next.errors.size()) +
                                      " error(s); the previous configuration keeps running");
        continue;
      }
      AgentConfig fresh = std::move(*next.config);
      if (fresh.database != cfg.database)
        Log(LogLevel::kWarn, "", "reload: database path changes need a restart; keeping " + cfg.database);
      if (fresh.engine_threads != cfg.engine_threads)
        Log(LogLevel::kWarn, "", "reload: engine_threads changes need a restart; keeping " +
                                     std::to_string(cfg.engine_threads));
      if (fresh.max_in_flight != cfg.max_in_flight || fresh.max_per_address != cfg.max_per_address)
        Log(LogLevel::kWarn, "", "reload: max_in_flight / max_per_address changes need a restart; keeping " +
                                     std::to_string(cfg.max_in_flight) + " / " + std::to_string(cfg.max_per_address));
      fresh.database = cfg.database;
      fresh.engine_threads = cfg.engine_threads;
      fresh.max_in_flight = cfg.max_in_flight;
      fresh.max_per_address = cfg.max_per_address;
      // Everything that can still fail is checked before anything changes:
      // the alert thresholds, the profiles and CA (OpenSSL's verdict, the same
      // the engines will reach), then the webhook secrets (Update applies
      // only on success), and only then the origins table.
      auto fresh_alerts = alert::BuildAlertContext(fresh);
      if (!fresh_alerts.ok()) {
        Log(LogLevel::kError, "", "reload rejected: " + fresh_alerts.status().message() +
                                      "; the previous configuration keeps running");
        continue;
      }
      if (Status ts = ValidateTls(fresh); !ts.ok()) {
        Log(LogLevel::kError, "", "reload rejected: " + ts.message() + "; the previous configuration keeps running");
        continue;
      }
      if (Status ws = sender->Update(fresh.webhooks); !ws.ok()) {
        Log(LogLevel::kError, "", "reload rejected: " + ws.message() + "; the previous configuration keeps running");
        continue;
      }
      if (Status s = store->SyncOrigins(OriginRecords(fresh), now); !s.ok()) {
        Log(LogLevel::kError, "", "reload: " + s.message() + "; the previous configuration keeps running");
        continue;
      }
      alerts = fresh_alerts.value();
      std::map<std::string, std::vector<std::string>> fresh_resolved;
      std::vector<ShardPlan> fresh_plans = BuildPlans(fresh, shards, alerts, &fresh_resolved);
      RecordAddresses(*store, fresh_resolved, *alerts);
      RetireRemoved(*store, *alerts, fresh_plans);
      resolved = fresh_resolved;
      dns_failed = DnsFailures(fresh_plans);
      next_resolve = ResolvePeriodMs(fresh) > 0 ? UnixNowMs() + ResolvePeriodMs(fresh) : 0;
      for (int i = 0; i < shards; ++i) engines[static_cast<size_t>(i)]->Update(std::move(fresh_plans[static_cast<size_t>(i)]));
      ParseLogLevel(fresh.log_level, &level);
      SetLogLevel(level);
      Log(LogLevel::kInfo, "", "reloaded: " + std::to_string(fresh.origins.size()) + " origins");
      cfg = std::move(fresh);
      continue;
    }
    if (next_resolve > 0 && now >= next_resolve) {
      // Names are resolved again: new or vanished addresses, and names that
      // start (or stop) resolving, change the plan; phases of unchanged
      // variants are kept by the scheduler.
      next_resolve = now + ResolvePeriodMs(cfg);
      std::map<std::string, std::vector<std::string>> fresh_resolved;
      std::vector<ShardPlan> fresh_plans = BuildPlans(cfg, shards, alerts, &fresh_resolved);
      std::set<std::string> fresh_failed = DnsFailures(fresh_plans);
      if (fresh_resolved != resolved || fresh_failed != dns_failed) {
        Log(LogLevel::kInfo, "", "DNS answers changed: plan updated");
        RecordAddresses(*store, fresh_resolved, *alerts);
        RetireRemoved(*store, *alerts, fresh_plans);
        for (int i = 0; i < shards; ++i)
          engines[static_cast<size_t>(i)]->Update(std::move(fresh_plans[static_cast<size_t>(i)]));
        resolved = std::move(fresh_resolved);
        dns_failed = std::move(fresh_failed);
      }
      continue;
    }
    if (now >= next_prune) {
      next_prune = now + 3600 * 1000;
      if (Status s = store->Prune(now - cfg.retention_ms); !s.ok())
        Log(LogLevel::kError, "", "retention: " + s.message());
    }
    if (now >= next_stats) {
      next_stats = now + 60000;
      uint64_t started_n = 0, skipped = 0, deferred = 0, completed = 0;
      for (const auto& e : engines) {
        Scheduler::Stats st = e->scheduler_stats();
        started_n += st.started;
        skipped += st.skipped_in_flight;
        deferred += st.deferred_cap;
        completed += e->completed();
      }
      Store::Stats ss = store->stats();
      sender->Wake();
      Log(LogLevel::kInfo, "",
          "stats: started " + std::to_string(started_n) + ", completed " + std::to_string(completed) +
              ", skipped (still running) " + std::to_string(skipped) + ", held by caps " +
              std::to_string(deferred) + ", stored " + std::to_string(ss.committed) +
              ", dropped (queue full) " + std::to_string(ss.dropped_queue_full));
    }
  }

  for (auto& e : engines) e->RequestStop();
  for (auto& e : engines) e->Join();
  store->Flush();
  sender_slot->store(nullptr);
  sender->Stop();  // the attempt in flight ends; pending deliveries resume at the next start
  WebhookSender::Stats ws = sender->stats();
  Store::Stats ss = store->stats();
  store->Close();
  Log(LogLevel::kInfo, "", "webhooks: " + std::to_string(ws.delivered) + " delivered, " +
                               std::to_string(ws.failed) + " failed, " + std::to_string(ws.retried) +
                               " retried this run");
  Log(LogLevel::kInfo, "", "stopped: " + std::to_string(ss.committed) + " probe results stored, " +
                               std::to_string(ss.dropped_queue_full) + " dropped");
  return exit_code;
}

}  // namespace originwatch::cli
