// EvaluatorStage: one Evaluator on its own thread behind a bounded queue
// (evaluator.h). Engine threads only move a result into the queue; the
// diagnosis, the rules and the building of the commit happen here.
#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <mutex>
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
  void Loop() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      wake_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping, and everything was handled
      std::deque<Input> batch;
      batch.swap(queue_);
      lk.unlock();
      uint64_t refused = 0;
      for (Input& in : batch) {
        const int64_t now = UnixNowMs();
        Commit c;
        if (auto* r = std::get_if<ProbeResult>(&in)) {
          c = evaluator_->OnResult(std::move(*r), now);
        } else if (auto* d = std::get_if<DnsObservation>(&in)) {
          c = evaluator_->OnDns(*d, now);
        } else {
          auto& ci = std::get<ConfigInput>(in);
          c = evaluator_->OnConfig(std::move(ci.config), ci.plan, now);
        }
        if (!c.empty() && !sink_(std::move(c))) ++refused;
      }
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
