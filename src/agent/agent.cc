// RunAgent (agent.h): wiring, the signal loop, reload and shutdown.
#include "originwatch/agent.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <algorithm>
#include <memory>

#include "agent/engine_shard.h"
#include "agent/http_endpoint.h"
#include "agent/liveness.h"
#include "agent/names.h"
#include "agent/observatory.h"
#include "agent/reload.h"
#include "agent/shard.h"
#include "agent/systemd_notify.h"
#include "agent/store_health.h"
#include "originwatch/resolver.h"
#include "originwatch/clock.h"
#include "originwatch/config.h"
#include "originwatch/engine.h"
#include "originwatch/evaluator.h"
#include "originwatch/known_certs.h"
#include "originwatch/log.h"
#include "originwatch/plan.h"
#include "originwatch/preflight.h"
#include "originwatch/store.h"
#include "originwatch/webhook.h"

namespace originwatch {
namespace {

using agent_internal::DriftSummary;
using agent_internal::EngineShard;
using agent_internal::HttpEndpoint;
using agent_internal::Liveness;
using agent_internal::Observatory;
using agent_internal::ReloadMailbox;
using agent_internal::ReloadOutcome;
using agent_internal::NameWatch;
using agent_internal::ResolverOptionsOf;
using agent_internal::ShardPlan;

// How often names are looked up again: once per interval, between 1 s and
// 5 min (the resolver's cache answers within a TTL without asking a server).
// 0 when every origin has fixed addresses.
int64_t ResolvePeriodMs(const AgentConfig& cfg) {
  bool any = false;
  for (const OriginConfig& o : cfg.origins) any |= o.connect.empty() && !IsIpLiteral(o.host);
  if (!any) return 0;
  return std::clamp<int64_t>(cfg.interval_ms, 1000, 300000);
}

std::vector<OriginRecord> OriginRecords(const AgentConfig& cfg) {
  std::vector<OriginRecord> out;
  for (const OriginConfig& o : cfg.origins) out.push_back({o.name, o.host, o.port, o.tags});
  return out;
}

AddressBookOptions BookOptions(const AgentConfig& cfg) {
  AddressBookOptions o;
  o.retire_after_ms = cfg.address_retire_after_ms;
  return o;
}

// The evaluator's commits go to the store; the events they carry are logged
// here, on the evaluator thread, in the words the webhook gets.
EvaluatorStage::Sink StoreSink(Store* store, std::shared_ptr<std::atomic<uint64_t>> routed) {
  return [store, routed](Commit&& c) {
    uint64_t deliveries = 0;
    for (const EventRecord& e : c.events) {
      const LogLevel level = e.kind == "resolved" || e.severity == "info" ? LogLevel::kInfo : LogLevel::kWarn;
      Log(level, e.origin, e.variant, e.kind + " " + e.rule + " (" + e.severity + "): " + e.summary);
      deliveries += e.webhooks.size();
    }
    const bool ok = store->Enqueue(std::move(c));
    if (ok) routed->fetch_add(deliveries, std::memory_order_relaxed);  // /metrics originwatch_webhook_backlog
    return ok;
  };
}

agent_internal::ReloadOutcome Rejected(const std::vector<ConfigError>& errors) {
  agent_internal::ReloadOutcome out;
  for (const ConfigError& e : errors) out.errors.push_back(e.ToString());
  return out;
}

agent_internal::ReloadOutcome Rejected(const std::string& message) {
  agent_internal::ReloadOutcome out;
  out.errors.push_back(message);
  return out;
}

void SendDns(EvaluatorStage& stage, std::vector<DnsObservation> observations) {
  for (DnsObservation& d : observations) stage.SubmitDns(std::move(d));
}

}  // namespace

sigset_t BlockAgentSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int RunAgent(const AgentArgs& args) {
  LoadResult loaded = LoadConfigFile(args.config_path);
  if (!loaded.ok()) {
    for (const ConfigError& e : loaded.errors) std::fprintf(stderr, "%s\n", e.ToString().c_str());
    std::fprintf(stderr, "originwatch run: %zu error(s) in %s: not starting\n", loaded.errors.size(),
                 args.config_path.c_str());
    return 2;
  }
  const size_t configured_origins = loaded.config->origins.size();
  AgentConfig cfg = std::move(*loaded.config);
  agent_internal::ApplyShard(&cfg, args.shard_index, args.shard_count);  // --shard i/N
  // The checks check-config runs (CA, profiles through OpenSSL, secrets,
  // thresholds, database path): run starts only when they all pass, and
  // says every problem at once, as check-config does.
  if (std::vector<ConfigError> problems = PreflightChecks(cfg); !problems.empty()) {
    for (const ConfigError& e : problems) std::fprintf(stderr, "%s\n", e.ToString().c_str());
    std::fprintf(stderr, "originwatch run: %zu problem(s) in %s: not starting\n", problems.size(),
                 args.config_path.c_str());
    return 2;
  }
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(cfg.log_level, &level);
  SetLogLevel(level);

  // Many probes in flight need many descriptors.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  // Signals are taken synchronously by the main thread only: blocked before
  // any thread starts so every thread inherits the mask (main() blocks them
  // already, before the configuration is read).
  const sigset_t signals = BlockAgentSignals();

  auto eval_cfg_or = BuildEvaluatorConfig(cfg);
  if (!eval_cfg_or.ok()) {
    std::fprintf(stderr, "originwatch run: %s\n", eval_cfg_or.status().message().c_str());
    return 2;
  }
  std::shared_ptr<const EvaluatorConfig> eval_cfg = eval_cfg_or.value();

  // Fingerprints of the certificates the store holds, shared with the
  // engines so that a chain served again costs no DER copy.
  auto known_certs = std::make_shared<KnownCertificates>();
  Store::Options sopts;
  sopts.path = cfg.database;
  sopts.known_certs = known_certs;
  // Events committed with a batch are delivered at once, not at the sender's
  // next poll. The sender starts after the store: until then the slot is empty.
  auto sender_slot = std::make_shared<std::atomic<WebhookSender*>>(nullptr);
  sopts.on_committed = [sender_slot] {
    if (WebhookSender* s = sender_slot->load()) s->Wake();
  };
  // The store logs the outage itself; the webhooks hear of it directly.
  sopts.on_write_health = [sender_slot, path = cfg.database](const WriteHealth& h) {
    if (WebhookSender* s = sender_slot->load()) s->SendDirect(agent_internal::StoreHealthEvent(h, path));
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
  auto snapshot = store->LoadAlertSnapshot();
  if (!snapshot.ok()) {
    std::fprintf(stderr, "originwatch run: %s\n", snapshot.status().message().c_str());
    return 2;
  }
  // Webhook delivery: its own thread; pending rows of an earlier run resume.
  WebhookGlobalInit();
  WebhookSender::Options wopts;
  wopts.db_path = cfg.database;
  wopts.store = store.get();
  wopts.webhooks = cfg.webhooks;
  wopts.alertmanagers = cfg.alertmanagers;
  auto sender_or = WebhookSender::Start(wopts);
  if (!sender_or.ok()) {
    std::fprintf(stderr, "originwatch run: %s\n", sender_or.status().message().c_str());
    return 2;
  }
  std::unique_ptr<WebhookSender> sender = std::move(sender_or).value();
  sender_slot->store(sender.get());

  // Names are looked up by c-ares on the resolver's own thread; nothing on
  // this (the signal-handling) thread ever waits for DNS beyond the bounded
  // wait for the first answers below.
  auto resolver_or = Resolver::Start(ResolverOptionsOf(cfg));
  if (!resolver_or.ok()) {
    std::fprintf(stderr, "originwatch run: %s\n", resolver_or.status().message().c_str());
    sender_slot->store(nullptr);
    sender->Stop();
    store->Close();
    return resolver_or.status().code() == Status::Code::kInvalidArgument ? 2 : 1;
  }
  ResolverOptions resolver_options = ResolverOptionsOf(cfg);

  // The evaluator, restored from the database, on its own thread.
  auto evaluator = std::make_unique<Evaluator>(eval_cfg, snapshot.value());
  NameWatch names(std::move(resolver_or).value(), BookOptions(cfg), evaluator->restored_books(), UnixNowMs());
  // --- HTTP endpoint, part 1: what it reads (the origins' snapshots, the
  // loops' liveness) exists before the evaluator and engine threads start.
  Observatory observatory;
  // systemd notify (systemd_notify.h): the watchdog and /healthz ask the same
  // Liveness whether a loop is stuck.
  agent_internal::SystemdNotify notify;
  Liveness liveness(notify.StuckAfterMs());
  const int main_beat = liveness.Register("main", MonotonicMs());
  const int evaluator_beat = liveness.Register("evaluator", MonotonicMs());
  // Every slot exists before any loop beats (Register is not thread-safe).
  std::vector<int> engine_beats;
  for (int i = 0; i < cfg.engine_threads; ++i)
    engine_beats.push_back(liveness.Register("engine-" + std::to_string(i), MonotonicMs()));
  auto routed = std::make_shared<std::atomic<uint64_t>>(0);
  std::atomic<bool> last_reload_ok{true};
  ReloadMailbox reload_mailbox;
  EvaluatorStage::Options stage_options;
  stage_options.views = cfg.listen.empty() ? nullptr : &observatory;
  stage_options.on_turn = [&liveness, evaluator_beat] { liveness.Beat(evaluator_beat, MonotonicMs()); };
  // --- end HTTP endpoint, part 1
  EvaluatorStage stage(std::move(evaluator), StoreSink(store.get(), routed), stage_options);

  const int shards = cfg.engine_threads;
  names.set_shard_count(std::max(args.shard_count, 1));
  // The first plan waits (bounded by the resolver's own timeouts) for the
  // first answers, so that it holds every address; a name that does not
  // answer in time joins the plan when its answer comes.
  if (names.Request(cfg) > 0) {
    names.WaitAnswers(int64_t{resolver_options.timeout_ms} * (1 << resolver_options.tries) + 500);
  }
  std::vector<DnsObservation> first_answers = names.Drain(UnixNowMs());
  // The trust store's contents and the certificates the store holds travel
  // with every plan (EngineOptions): a CA bundle changed in place rebuilds
  // the engines, and with them their chain caches.
  uint64_t ca_digest = CaBundleDigest(cfg.ca_file);
  auto with_engine_context = [&](std::vector<ShardPlan>* ps) {
    for (ShardPlan& p : *ps) {
      p.engine_options.ca_digest = ca_digest;
      p.engine_options.known_certs = known_certs;
    }
  };
  PlanView view;
  std::vector<ShardPlan> plans = names.BuildPlans(cfg, shards, &view);
  with_engine_context(&plans);
  stage.SubmitConfig(eval_cfg, view);  // closes what the configuration dropped
  SendDns(stage, std::move(first_answers));
  std::string fingerprint = names.Fingerprint();
  int64_t next_resolve = ResolvePeriodMs(cfg) > 0 ? UnixNowMs() + ResolvePeriodMs(cfg) : 0;
  size_t total_probes = 0;
  for (const ShardPlan& p : plans) total_probes += p.probes.size();

  std::vector<std::unique_ptr<EngineShard>> engines;
  for (int i = 0; i < shards; ++i) {
    engines.push_back(std::make_unique<EngineShard>(i, &stage));
    engines.back()->set_liveness(&liveness, engine_beats[static_cast<size_t>(i)]);
    if (Status s = engines.back()->Start(std::move(plans[static_cast<size_t>(i)])); !s.ok()) {
      std::fprintf(stderr, "originwatch run: %s\n", s.message().c_str());
      for (auto& e : engines) e->Stop();
      stage.Stop();
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
  if (args.shard_count > 0)
    Log(LogLevel::kInfo, "", "shard " + std::to_string(args.shard_index) + "/" + std::to_string(args.shard_count) +
                                 ": probing " + std::to_string(cfg.origins.size()) + " of " +
                                 std::to_string(configured_origins) + " configured origins");

  // ---- systemd STATUS= (systemd_notify.h): probes/s, open alerts, database health ----
  uint64_t status_completed = 0;
  int64_t status_at = MonotonicMs();
  auto notify_status = [&]() {
    uint64_t completed = 0;
    for (const auto& e : engines) completed += e->completed();
    const int64_t now_mono = MonotonicMs();
    const double rate = now_mono > status_at ? double(completed - status_completed) * 1000.0 / double(now_mono - status_at) : 0.0;
    status_completed = completed;
    status_at = now_mono;
    auto open = Report(cfg.database, "open_alerts", "", UnixNowMs());
    return agent_internal::NotifyStatusText(rate, open.ok() ? int64_t(open->rows.size()) : 0, store->stats().writable);
  };
  notify.Ready(notify_status());
  // ---- end systemd STATUS= ----

  // --- HTTP endpoint, part 2: started once the engines run; a listen address
  // that cannot be bound stops the agent (exit 2, like a configuration error).
  std::unique_ptr<HttpEndpoint> endpoint;
  if (!cfg.listen.empty()) {
    agent_internal::EndpointOptions eo;
    eo.listen = cfg.listen;
    eo.metrics_per_variant = cfg.metrics_per_variant;
    eo.enable_reload = cfg.enable_reload;
    eo.db_path = cfg.database;
    agent_internal::EndpointHooks hooks;
    hooks.observatory = &observatory;
    hooks.reload = &reload_mailbox;
    hooks.health = [&liveness] { return liveness.Check(MonotonicMs()); };
    hooks.gauges = [&engines, &store, &sender, &routed, &last_reload_ok] {
      agent_internal::AgentGauges g;
      for (const auto& e : engines) {
        g.in_flight += e->scheduler_stats().in_flight;
        g.drift.Merge(e->drift());
      }
      const Store::Stats ss = store->stats();
      g.store_queue_depth = ss.queue_depth;
      g.store_writable = ss.writable;
      const WebhookSender::Stats ws = sender->stats();
      g.webhook_backlog = std::max<int64_t>(
          0, static_cast<int64_t>(routed->load(std::memory_order_relaxed)) -
                 static_cast<int64_t>(ws.delivered + ws.failed));
      g.last_reload_ok = last_reload_ok.load();
      return g;
    };
    auto ep = HttpEndpoint::Start(eo, std::move(hooks));
    if (!ep.ok()) {
      std::fprintf(stderr, "originwatch run: %s\n", ep.status().message().c_str());
      for (auto& e : engines) e->Stop();
      stage.Stop();
      sender_slot->store(nullptr);
      sender->Stop();
      store->Close();
      return 2;
    }
    endpoint = std::move(ep).value();
    Log(LogLevel::kInfo, "", "HTTP endpoint listening on " + eo.listen);
  }
  // --- end HTTP endpoint, part 2

  auto apply_plan = [&](const AgentConfig& c, std::shared_ptr<const EvaluatorConfig>* submit_cfg) {
    PlanView v;
    std::vector<ShardPlan> fresh = names.BuildPlans(c, shards, &v);
    with_engine_context(&fresh);
    if (submit_cfg != nullptr) stage.SubmitConfig(*submit_cfg, v);
    for (int i = 0; i < shards; ++i) engines[static_cast<size_t>(i)]->Update(std::move(fresh[static_cast<size_t>(i)]));
  };

  // The reload of SIGHUP and of POST /-/reload, on this (the main) thread:
  // everything that can fail is checked before anything changes; the
  // outcome says why it was rejected.
  auto reload_config = [&]() -> ReloadOutcome {
    LoadResult next = LoadConfigFile(args.config_path);
    if (!next.ok()) {
      for (const ConfigError& e : next.errors) Log(LogLevel::kError, "", e.ToString());
      Log(LogLevel::kError, "", "reload rejected: " + std::to_string(next.errors.size()) +
                                    " error(s); the previous configuration keeps running");
      return Rejected(next.errors);
    }
    AgentConfig fresh = std::move(*next.config);
    agent_internal::ApplyShard(&fresh, args.shard_index, args.shard_count);  // --shard i/N
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
    auto fresh_eval = BuildEvaluatorConfig(fresh);
    if (!fresh_eval.ok()) {
      Log(LogLevel::kError, "", "reload rejected: " + fresh_eval.status().message() +
                                    "; the previous configuration keeps running");
      return Rejected(fresh_eval.status().message());
    }
    if (std::vector<ConfigError> problems = PreflightChecks(fresh); !problems.empty()) {
      for (const ConfigError& e : problems) Log(LogLevel::kError, "", e.ToString());
      Log(LogLevel::kError, "", "reload rejected: " + std::to_string(problems.size()) +
                                    " problem(s); the previous configuration keeps running");
      return Rejected(problems);
    }
    if (Status ws = sender->Update(fresh.webhooks, fresh.alertmanagers); !ws.ok()) {
      Log(LogLevel::kError, "", "reload rejected: " + ws.message() + "; the previous configuration keeps running");
      return Rejected(ws.message());
    }
    if (Status s = store->SyncOrigins(OriginRecords(fresh), UnixNowMs()); !s.ok()) {
      Log(LogLevel::kError, "", "reload: " + s.message() + "; the previous configuration keeps running");
      return Rejected(s.message());
    }
    const ResolverOptions fresh_resolver = ResolverOptionsOf(fresh);
    if (fresh_resolver.servers != resolver_options.servers ||
        fresh_resolver.ttl_floor_ms != resolver_options.ttl_floor_ms ||
        fresh_resolver.ttl_ceiling_ms != resolver_options.ttl_ceiling_ms) {
      auto r = Resolver::Start(fresh_resolver);
      if (!r.ok()) {
        Log(LogLevel::kError, "", "reload rejected: " + r.status().message() +
                                      "; the previous configuration keeps running");
        return Rejected(r.status().message());
      }
      names.set_resolver(std::move(r).value());
      resolver_options = fresh_resolver;
    }
    eval_cfg = fresh_eval.value();
    ca_digest = CaBundleDigest(fresh.ca_file);
    names.set_options(BookOptions(fresh));
    names.Request(fresh);  // answers arrive in the inbox; the loop drains them
    apply_plan(fresh, &eval_cfg);
    fingerprint = names.Fingerprint();
    next_resolve = ResolvePeriodMs(fresh) > 0 ? UnixNowMs() + ResolvePeriodMs(fresh) : 0;
    ParseLogLevel(fresh.log_level, &level);
    SetLogLevel(level);
    Log(LogLevel::kInfo, "", "reloaded: " + std::to_string(fresh.origins.size()) + " origins");
    if (fresh.listen != cfg.listen) {
      Log(LogLevel::kWarn, "", "reload: listen changes need a restart; keeping \"" + cfg.listen + "\"");
      fresh.listen = cfg.listen;
    }
    if (endpoint) {
      endpoint->set_metrics_per_variant(fresh.metrics_per_variant);
      endpoint->set_enable_reload(fresh.enable_reload);
    }
    cfg = std::move(fresh);
    return ReloadOutcome{true, {}};
  };
  auto reload_and_record = [&]() -> ReloadOutcome {
    notify.Reloading();  // READY=1 follows at the next turn, whatever the outcome
    ReloadOutcome out = reload_config();
    last_reload_ok.store(out.ok);
    return out;
  };

  const int64_t started = UnixNowMs();
  int64_t next_prune = started;
  int64_t next_stats = started + 60000;
  DriftSummary drift_at_last_stats;
  for (;;) {
    timespec ts{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&signals, nullptr, &ts);
    liveness.Beat(main_beat, MonotonicMs());
    int64_t now = UnixNowMs();
    if (sig != SIGTERM && sig != SIGINT) notify.Turn(MonotonicMs(), liveness, notify_status);
    if (sig == SIGTERM || sig == SIGINT) {
      notify.Stopping();
      Log(LogLevel::kInfo, "", std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                                   ": draining in-flight probes");
      break;
    }
    if (args.duration_ms > 0 && now - started >= args.duration_ms) {
      Log(LogLevel::kInfo, "", "run duration reached: draining in-flight probes");
      notify.Stopping();
      break;
    }
    if (sig == SIGHUP) {
      reload_and_record();
      continue;
    }
    if (reload_mailbox.Pending()) {  // POST /-/reload
      reload_mailbox.Answer(reload_and_record());
      continue;
    }
    // DNS answers that arrived: every lookup goes to the evaluator
    // (dns_error counts lookups); the plan changes only when an address book
    // gained or retired an address.
    if (std::vector<DnsObservation> answers = names.Drain(now); !answers.empty()) {
      std::string fresh_fp = names.Fingerprint();
      if (fresh_fp != fingerprint) {
        Log(LogLevel::kInfo, "", "address sets changed: plan updated");
        apply_plan(cfg, nullptr);
        fingerprint = std::move(fresh_fp);
      }
      SendDns(stage, std::move(answers));
    }
    if (next_resolve > 0 && now >= next_resolve) {
      next_resolve = now + ResolvePeriodMs(cfg);
      names.Request(cfg);  // the cache answers within a TTL; the rest asks the servers
      continue;
    }
    if (now >= next_prune) {
      next_prune = now + 3600 * 1000;
      if (Status s = store->Prune(now - cfg.retention_ms); !s.ok())
        Log(LogLevel::kError, "", "retention: " + s.message());
    }
    if (now >= next_stats) {
      next_stats = now + 60000;
      uint64_t started_n = 0, skipped = 0, deferred = 0, completed = 0, dropped = 0;
      DriftSummary drift;
      for (const auto& e : engines) {
        drift.Merge(e->drift());
        Scheduler::Stats st = e->scheduler_stats();
        started_n += st.started;
        skipped += st.skipped_in_flight;
        deferred += st.deferred_cap;
        completed += e->completed();
        dropped += e->dropped();
      }
      Store::Stats ss = store->stats();
      sender->Wake();
      Log(LogLevel::kInfo, "",
          "stats: started " + std::to_string(started_n) + ", completed " + std::to_string(completed) +
              ", skipped (still running) " + std::to_string(skipped) + ", held by caps " +
              std::to_string(deferred) + ", stored " + std::to_string(ss.committed) +
              ", dropped (queue full) " + std::to_string(ss.dropped_queue_full + dropped) +
              ", dropped (database unwritable) " + std::to_string(ss.dropped_unwritable) +
              (ss.writable ? std::string()
                           : ", database unwritable for " +
                                 std::to_string((UnixNowMs() - ss.unwritable_since_ms) / 1000) +
                                 " s (" + std::to_string(ss.held) + " commits held)") +
              "; start drift in the last minute " + drift.Since(drift_at_last_stats).ToString());
      drift_at_last_stats = drift;
      const Resolver::Stats rs = names.resolver_stats();
      Log(LogLevel::kInfo, "",
          "dns: " + std::to_string(rs.requests) + " requests, " + std::to_string(rs.lookups_sent) +
              " lookups sent, " + std::to_string(rs.cache_hits) + " answered from the cache, " +
              std::to_string(rs.coalesced) + " joined a lookup in flight");
    }
  }

  reload_mailbox.Close("the agent is stopping");
  if (endpoint) endpoint->Stop();  // it reads the engines, the store and the sender
  liveness.Retire(main_beat);
  for (auto& e : engines) e->RequestStop();
  for (auto& e : engines) e->Join();
  DriftSummary drift;
  for (const auto& e : engines) drift.Merge(e->drift());
  stage.Stop();  // drains: every result is evaluated and handed to the store
  store->Flush();
  sender_slot->store(nullptr);
  sender->Stop();  // the attempt in flight ends; pending deliveries resume at the next start
  WebhookSender::Stats ws = sender->stats();
  Store::Stats ss = store->stats();
  store->Close();
  Log(LogLevel::kInfo, "", "webhooks: " + std::to_string(ws.delivered) + " delivered, " +
                               std::to_string(ws.failed) + " failed, " + std::to_string(ws.retried) +
                               " retried this run");
  Log(ss.dropped_unwritable > 0 ? LogLevel::kWarn : LogLevel::kInfo, "",
      "stopped: " + std::to_string(ss.committed) + " probe results stored, " +
          std::to_string(ss.dropped_queue_full) + " dropped (queue full), " +
          std::to_string(ss.dropped_unwritable) + " dropped (database unwritable); start drift " +
          drift.ToString());
  return 0;
}

}  // namespace originwatch
