// EvaluatorStage: one Evaluator on its own thread behind a bounded queue
// (evaluator.h). Engine threads only move a result into the queue; the
// diagnosis, the rules and the building of the commit happen here.
#include <pthread.h>

#include <condition_variable>
#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <variant>

#include "originwatch/clock.h"
#include "originwatch/evaluator.h"

namespace originwatch {
namespace {

struct ConfigInput {
  std::shared_ptr<const EvaluatorConfig> config;
  PlanView plan;
};
using Input = std::variant<ProbeResult, DnsObservation, ConfigInput>;

}  // namespace

class EvaluatorStage::Impl {
 public:
  Impl(std::unique_ptr<Evaluator> e, Sink sink, Options o)
      : evaluator_(std::move(e)), sink_(std::move(sink)), options_(o) {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "ow-evaluator");
      Loop();
    });
  }

  bool Push(Input in, bool bounded) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_) return false;
      if (bounded && queue_.size() >= options_.queue_capacity) {
        ++stats_.dropped_queue_full;
        return false;
      }
      queue_.push_back(std::move(in));
      ++pushed_;
      ++stats_.submitted;
    }
    wake_.notify_one();
    return true;
  }

  void Flush() {
    std::unique_lock<std::mutex> lk(mu_);
    const uint64_t target = pushed_;
    done_cv_.wait(lk, [&] { return done_ >= target || !running_; });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!running_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  Stats stats() const {
    std::lock_guard<std::mutex> lk(mu_);
    Stats s = stats_;
    s.queue_depth = queue_.size();
    return s;
  }

 private:
  // The HTTP endpoint's snapshots: a result is counted and remembered in its
  // variant's recent strip, and its origin is marked for a new snapshot. An
  // origin's snapshot is rebuilt at most once per kViewPeriodMs (the
  // diagnosis runs again for it), so the variants of one round, which arrive
  // within milliseconds, cost one snapshot; every mark is O(log n).
  static constexpr int64_t kViewPeriodMs = 1000;

  void Remember(const ProbeResult& r, int64_t now) {
    options_.views->CountProbe(r.outcome);
    auto& strip = recent_[r.spec.origin][VariantKeyOf(r.spec)];
    strip.push_back({r.started_at_ms, r.outcome, r.handshake_ms, r.http.status, ProbePassed(r)});
    while (strip.size() > OriginView::kRecentProbes) strip.pop_front();
    MarkDirty(r.spec.origin, now);
  }

  void MarkDirty(const std::string& origin, int64_t now) {
    if (!pending_.insert(origin).second) return;  // a snapshot is due already
    auto last = published_at_.find(origin);
    const int64_t due = last == published_at_.end() ? now : std::max(now, last->second + kViewPeriodMs);
    due_.emplace(due, origin);
  }

  void PublishViews(int64_t now) {
    while (!due_.empty() && due_.begin()->first <= now) {
      const std::string name = std::move(due_.begin()->second);
      due_.erase(due_.begin());
      pending_.erase(name);
      std::shared_ptr<OriginView> v = evaluator_->View(name, now);
      if (v == nullptr) {  // no longer configured
        recent_.erase(name);
        published_at_.erase(name);
        continue;
      }
      published_at_[name] = now;
      auto strips = recent_.find(name);
      if (strips != recent_.end()) {
        for (VariantView& vv : v->variants) {
          auto st = strips->second.find(vv.key);
          if (st != strips->second.end()) vv.recent.assign(st->second.begin(), st->second.end());
        }
      }
      options_.views->Publish(std::move(v));
    }
  }

  // How long the loop may sleep: until the next snapshot is due, at most 1 s.
  std::chrono::milliseconds IdleWait() const {
    if (due_.empty()) return std::chrono::milliseconds(1000);
    return std::chrono::milliseconds(std::clamp<int64_t>(due_.begin()->first - UnixNowMs(), 1, 1000));
  }

  void Loop() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      if (options_.on_turn) {
        lk.unlock();
        options_.on_turn();
        lk.lock();
      }
      // Bounded wait: the loop turns (and beats) at least once a second.
      if (!wake_.wait_for(lk, IdleWait(), [&] { return stopping_ || !queue_.empty(); })) {
        if (options_.views != nullptr && !due_.empty()) {
          lk.unlock();
          PublishViews(UnixNowMs());
          lk.lock();
        }
        continue;
      }
      if (queue_.empty()) break;  // stopping, and everything was handled
      std::deque<Input> batch;
      batch.swap(queue_);
      lk.unlock();
      uint64_t refused = 0;
      for (Input& in : batch) {
        const int64_t now = UnixNowMs();
        Commit c;
        if (auto* r = std::get_if<ProbeResult>(&in)) {
          if (options_.views != nullptr) Remember(*r, now);
          c = evaluator_->OnResult(std::move(*r), now);
        } else if (auto* d = std::get_if<DnsObservation>(&in)) {
          c = evaluator_->OnDns(*d, now);
          if (options_.views != nullptr) MarkDirty(d->origin, now);
        } else {
          auto& ci = std::get<ConfigInput>(in);
          c = evaluator_->OnConfig(std::move(ci.config), ci.plan, now);
          if (options_.views != nullptr) {
            std::set<std::string> names = evaluator_->ConfiguredOrigins();
            options_.views->Retain(names);
            for (auto it = recent_.begin(); it != recent_.end();) {
              it = names.count(it->first) > 0 ? std::next(it) : recent_.erase(it);
            }
            for (const std::string& n : names) MarkDirty(n, now);
          }
        }
        if (!c.empty() && !sink_(std::move(c))) ++refused;
      }
      if (options_.views != nullptr) PublishViews(UnixNowMs());
      lk.lock();
      stats_.dropped_by_sink += refused;
      done_ += batch.size();
      done_cv_.notify_all();
    }
    running_ = false;
    done_cv_.notify_all();
  }

  std::unique_ptr<Evaluator> evaluator_;  // the thread's alone
  Sink sink_;
  Options options_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_cv_;
  std::deque<Input> queue_;
  uint64_t pushed_ = 0;
  uint64_t done_ = 0;
  bool stopping_ = false;
  bool running_ = true;
  Stats stats_;
  // Evaluator thread only: the recent strips (origin -> variant key -> probes)
  // and the snapshots due.
  std::map<std::string, std::map<std::string, std::deque<ProbeMark>>> recent_;
  std::set<std::string> pending_;                 // origins with a snapshot due
  std::multimap<int64_t, std::string> due_;       // when (unix ms) -> origin
  std::map<std::string, int64_t> published_at_;   // unix ms of an origin's last snapshot
};

EvaluatorStage::EvaluatorStage(std::unique_ptr<Evaluator> evaluator, Sink sink, Options options)
    : impl_(std::make_unique<Impl>(std::move(evaluator), std::move(sink), options)) {}
EvaluatorStage::~EvaluatorStage() { Stop(); }
bool EvaluatorStage::Submit(ProbeResult result) { return impl_->Push(std::move(result), true); }
// DNS answers and configurations are rare and must not be lost to a full
// queue: they are queued beyond the capacity.
void EvaluatorStage::SubmitDns(DnsObservation dns) { impl_->Push(std::move(dns), false); }
void EvaluatorStage::SubmitConfig(std::shared_ptr<const EvaluatorConfig> config, PlanView plan) {
  impl_->Push(ConfigInput{std::move(config), std::move(plan)}, false);
}
void EvaluatorStage::Flush() { impl_->Flush(); }
void EvaluatorStage::Stop() { impl_->Stop(); }
EvaluatorStage::Stats EvaluatorStage::stats() const { return impl_->stats(); }

}  // namespace originwatch
