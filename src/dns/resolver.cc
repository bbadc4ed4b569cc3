// Resolver: one thread, one small io_uring ring, one c-ares channel.
//
// The loop, all on the resolver thread:
//   Sync()      makes the ring's operations match what c-ares asked for:
//               an IORING_OP_POLL_ADD per c-ares socket with the events it
//               wants (POLL_REMOVE when that changes or the socket closes),
//               one IORING_OP_TIMEOUT (absolute, CLOCK_MONOTONIC) at
//               ares_timeout()'s next retry time (TIMEOUT_UPDATE when it
//               moves earlier), and an IORING_OP_READ on the wake eventfd.
//   Run(-1)     waits for completions: a poll -> ares_process_fd(fd) on the
//               ready side(s); the timer -> ares_process_fd(BAD, BAD), which
//               processes c-ares's timeouts; the eventfd -> new requests.
// c-ares only calls us back from inside ares_getaddrinfo/ares_process_fd:
// OnSockState records the wish (Sync acts on it after the call returns, so
// no SQE is queued from inside c-ares), OnAddrInfo ends a lookup.
//
// Lifetimes: a Watch with a poll in flight is never freed. When c-ares closes
// its socket the Watch moves to retiring_ and is freed once the poll's CQE
// (-ECANCELED after our POLL_REMOVE) arrives; a new socket that reuses the fd
// number gets a new Watch. Shutdown cancels every lookup with ares_cancel
// before ares_destroy: with c-ares 1.18 an AF_UNSPEC getaddrinfo whose two
// queries both meet ARES_EDESTRUCTION ends its lookup twice.
#include "originwatch/resolver.h"

#include <ares.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <cerrno>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/ring.h"
#include "dns/answer_cache.h"
#include "dns/resolver_util.h"
#include "originwatch/clock.h"

namespace originwatch {
namespace {

struct ChannelDeleter {
  void operator()(ares_channeldata* c) const { ares_destroy(c); }
};
using Channel = std::unique_ptr<ares_channeldata, ChannelDeleter>;

class EventFd {
 public:
  EventFd() = default;
  explicit EventFd(int fd) : fd_(fd) {}
  EventFd(EventFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  EventFd& operator=(EventFd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~EventFd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

__kernel_timespec AbsTimespec(int64_t mono_ms) {
  __kernel_timespec ts{};
  ts.tv_sec = mono_ms / 1000;
  ts.tv_nsec = (mono_ms % 1000) * 1000000;
  return ts;
}

constexpr uint64_t kNoUserData = 0;  // CQEs Ring::Run skips (our cancel/update SQEs)

using dns::MakeAnswer;
using dns::Stopped;

}  // namespace

class Resolver::Impl {
 public:
  Impl(ResolverOptions options, std::vector<dns::ServerAddress> servers)
      : options_(std::move(options)), servers_(std::move(servers)) {}
  ~Impl();

  Status StartThread();
  void Resolve(const std::string& name, Family family, Callback done);
  bool OnResolverThread() const { return std::this_thread::get_id() == thread_.get_id(); }
  Stats stats() const;

 private:
  struct Request {
    std::string name;
    Family family;
    Callback done;
    int64_t asked_ms;
  };
  struct Lookup {
    Impl* impl;
    dns::CacheKey key;
    std::vector<Request> waiters;
  };
  struct Watch {
    core::Operation op;
    Impl* impl = nullptr;
    int fd = -1;
    bool want_read = false, want_write = false;
    bool closed = false;       // c-ares closed the socket: free after the last CQE
    bool in_flight = false;    // a POLL_ADD is in the kernel
    bool cancel_sent = false;  // and a POLL_REMOVE for it too
    unsigned armed = 0;        // the events of the POLL_ADD in flight
  };

  Status Setup();
  void Loop() noexcept;
  bool TakeRequests();  // true when the destructor asked the thread to stop
  void Begin(Request r);
  void Answer(Request& r, DnsAnswer answer);
  void ProcessFd(int read_fd, int write_fd);
  void Sync();
  void SyncWatch(Watch& w);
  void ArmTimer();
  void ArmWake();
  void Shutdown();
  bool OpsInFlight() const;

  static void OnSockState(void* data, ares_socket_t fd, int readable, int writable);
  static void OnAddrInfo(void* arg, int status, int timeouts, ares_addrinfo* result);
  static void OnPoll(core::Operation* op, int32_t res, int64_t reaped_ms) noexcept;
  static void OnTimer(core::Operation* op, int32_t res, int64_t reaped_ms) noexcept;
  static void OnWake(core::Operation* op, int32_t res, int64_t reaped_ms) noexcept;

  const ResolverOptions options_;
  const std::vector<dns::ServerAddress> servers_;
  std::string servers_text_;  // what DnsAnswer::resolver says when no server replied

  // Shared with the callers' threads.
  mutable std::mutex mutex_;
  std::vector<Request> incoming_;
  bool stop_ = false;
  EventFd wake_;
  std::atomic<uint64_t> requests_{0}, lookups_sent_{0}, cache_hits_{0}, coalesced_{0},
      in_flight_{0}, answered_{0};
  std::thread thread_;

  // The resolver thread's own.
  std::unique_ptr<core::Ring> ring_;
  Channel channel_;
  dns::AnswerCache cache_;
  std::map<dns::CacheKey, std::unique_ptr<Lookup>> lookups_;
  std::unordered_map<int, std::unique_ptr<Watch>> watches_;
  std::vector<std::unique_ptr<Watch>> retiring_;
  core::Operation timer_op_{&OnTimer, this, 0};
  core::Operation wake_op_{&OnWake, this, 0};
  bool timer_in_flight_ = false;
  int64_t timer_deadline_ms_ = 0;
  __kernel_timespec timer_ts_{}, timer_update_ts_{};
  bool wake_in_flight_ = false;
  bool woken_ = false;
  uint64_t wake_buf_ = 0;
  int processing_fd_ = ARES_SOCKET_BAD;  // the socket ares_process_fd is reading
  bool in_getaddrinfo_ = false;          // inside ares_getaddrinfo: a hosts-file answer
  bool stopping_ = false;
};

Result<std::unique_ptr<Resolver>> Resolver::Start(const ResolverOptions& options) {
  if (Status s = dns::CheckOptions(options); !s.ok()) return s;
  std::vector<dns::ServerAddress> servers;
  for (const std::string& text : options.servers) {
    auto server = dns::ParseServer(text);
    if (!server.ok()) return server.status();
    servers.push_back(std::move(server).value());
  }
  auto impl = std::make_unique<Impl>(options, std::move(servers));
  Status started = impl->StartThread();
  if (!started.ok()) return started;
  return std::unique_ptr<Resolver>(new Resolver(std::move(impl)));
}

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Resolver::~Resolver() = default;

void Resolver::Resolve(const std::string& name, Family family, Callback done) {
  impl_->Resolve(name, family, std::move(done));
}

DnsAnswer Resolver::ResolveBlocking(const std::string& name, Family family) {
  OW_CHECK(!impl_->OnResolverThread());  // it would wait for itself
  auto promise = std::make_shared<std::promise<DnsAnswer>>();
  std::future<DnsAnswer> answer = promise->get_future();
  impl_->Resolve(name, family, [promise](DnsAnswer a) { promise->set_value(std::move(a)); });
  return answer.get();
}

Resolver::Stats Resolver::stats() const { return impl_->stats(); }

Resolver::Stats Resolver::Impl::stats() const {
  Stats s;
  s.requests = requests_.load();
  s.lookups_sent = lookups_sent_.load();
  s.cache_hits = cache_hits_.load();
  s.coalesced = coalesced_.load();
  s.in_flight = in_flight_.load();
  s.answered = answered_.load();
  return s;
}

Status Resolver::Impl::StartThread() {
  // Blocking on purpose: writers never wait (the counter cannot fill), and
  // io_uring answers a read of an O_NONBLOCK eventfd with -EAGAIN at once
  // instead of waiting for it.
  wake_ = EventFd(eventfd(0, EFD_CLOEXEC));
  if (wake_.get() < 0) return Status::FromErrno("resolver: eventfd", errno);
  std::promise<Status> setup;
  std::future<Status> ready = setup.get_future();
  thread_ = std::thread([this, setup = std::move(setup)]() mutable {
    Status s = Setup();
    const bool ok = s.ok();
    setup.set_value(std::move(s));
    if (ok) Loop();
    ring_.reset();
  });
  Status s = ready.get();
  if (!s.ok()) thread_.join();
  return s;
}

Resolver::Impl::~Impl() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  const uint64_t one = 1;
  OW_CHECK(write(wake_.get(), &one, sizeof(one)) == sizeof(one));
  thread_.join();
}

// Ring first: SINGLE_ISSUER rings belong to the thread that creates them.
Status Resolver::Impl::Setup() {
  auto ring = core::Ring::Create(core::RingOptions{.entries = 64});
  if (!ring.ok()) return ring.status();
  ring_ = std::move(ring).value();

  static std::once_flag library_once;
  static int library_status = ARES_SUCCESS;
  std::call_once(library_once, [] { library_status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (library_status != ARES_SUCCESS) {
    return Status::Unavailable(std::string("c-ares: ") + ares_strerror(library_status));
  }

  ares_options opts{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
  opts.sock_state_cb = &OnSockState;
  opts.sock_state_cb_data = this;
  opts.timeout = options_.timeout_ms;
  opts.tries = options_.tries;
  // "b": DNS only; "fb": the hosts file, then DNS (lookups are in that order).
  char dns_only[] = "b";
  char hosts_then_dns[] = "fb";
  opts.lookups = servers_.empty() ? hosts_then_dns : dns_only;
  // NOCHECKRESP: c-ares 1.18.1 reports a SERVFAIL or REFUSED reply, once it
  // has tried every server, as ARES_ECONNREFUSED ("could not contact"), which
  // would hide the server's own answer. So the first such reply is the
  // answer, as with NXDOMAIN. NOSEARCH: configured servers get the name as given.
  mask |= ARES_OPT_FLAGS;
  opts.flags = ARES_FLAG_NOCHECKRESP | (servers_.empty() ? 0 : ARES_FLAG_NOSEARCH);
  ares_channel channel = nullptr;
  int rc = ares_init_options(&channel, &opts, mask);
  if (rc != ARES_SUCCESS) return Status::Unavailable(std::string("c-ares: ") + ares_strerror(rc));
  channel_.reset(channel);

  if (servers_.empty()) {
    servers_text_ = "system";
    return Status::Ok();
  }
  std::vector<ares_addr_port_node> nodes(servers_.size());
  for (size_t i = 0; i < servers_.size(); ++i) {
    ares_addr_port_node& n = nodes[i];
    n.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
    n.family = servers_[i].family;
    std::memcpy(&n.addr, servers_[i].addr, servers_[i].family == AF_INET ? 4 : 16);
    n.udp_port = servers_[i].port;
    n.tcp_port = servers_[i].port;
    if (!servers_text_.empty()) servers_text_ += ",";
    servers_text_ += servers_[i].spelling;
  }
  rc = ares_set_servers_ports(channel_.get(), nodes.data());
  if (rc != ARES_SUCCESS) {
    return Status::Unavailable(std::string("c-ares: setting the servers: ") + ares_strerror(rc));
  }
  return Status::Ok();
}

void Resolver::Impl::Resolve(const std::string& name, Family family, Callback done) {
  requests_.fetch_add(1);
  Request r{name, family, std::move(done), MonotonicMs()};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stop_) {
      incoming_.push_back(std::move(r));
      const uint64_t one = 1;
      OW_CHECK(write(wake_.get(), &one, sizeof(one)) == sizeof(one));
      return;
    }
  }
  // Stopping: only a callback of ours (on the resolver thread) can get here.
  Answer(r, Stopped(servers_text_));
}

void Resolver::Impl::Loop() noexcept {
  for (;;) {
    Sync();
    ring_->Run(-1);
    if (woken_) {
      woken_ = false;
      if (TakeRequests()) break;
    }
  }
  Shutdown();
}

bool Resolver::Impl::TakeRequests() {
  std::vector<Request> batch;
  bool stop;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch.swap(incoming_);
    stop = stop_;
  }
  if (stop) stopping_ = true;  // the batch is answered "stopped" by Begin
  for (Request& r : batch) Begin(std::move(r));
  return stop;
}

void Resolver::Impl::Answer(Request& r, DnsAnswer answer) {
  answer.dns_ms = answer.cached ? 0 : MonotonicMs() - r.asked_ms;
  answered_.fetch_add(1);
  r.done(std::move(answer));
}

void Resolver::Impl::Begin(Request r) {
  if (stopping_) {
    return Answer(r, Stopped(servers_text_));
  }
  const dns::Literal literal = dns::ParseLiteral(r.name);
  if (literal.family != 0) {
    const bool fits = r.family == Family::kAny ||
                      (r.family == Family::kIpv4) == (literal.family == AF_INET);
    if (!fits) {
      return Answer(r, MakeAnswer(Outcome::kDnsNoAddress,
                                  "an IP literal of the other family: " +
                                      dns::NoAddressText(r.family),
                                  "literal"));
    }
    DnsAnswer a = MakeAnswer(Outcome::kOk, "", "literal");
    a.addresses.push_back(literal.text);
    return Answer(r, std::move(a));
  }
  if (r.name.empty() || r.name.size() > 254 ||
      r.name.find_first_of(std::string_view(" \t\r\n\0", 5)) != std::string::npos) {
    return Answer(r, MakeAnswer(Outcome::kDnsError, "not a valid DNS name: \"" + r.name + "\"", ""));
  }
  dns::CacheKey key = dns::MakeCacheKey(r.name, r.family);
  if (std::optional<DnsAnswer> hit = cache_.Find(key, MonotonicMs())) {
    cache_hits_.fetch_add(1);
    return Answer(r, std::move(*hit));
  }
  auto it = lookups_.find(key);
  if (it != lookups_.end()) {
    coalesced_.fetch_add(1);
    it->second->waiters.push_back(std::move(r));
    return;
  }
  auto lookup = std::make_unique<Lookup>(Lookup{this, key, {}});
  Lookup* raw = lookup.get();
  const std::string name = r.name;
  ares_addrinfo_hints hints{};
  hints.ai_family = r.family == Family::kIpv4   ? AF_INET
                    : r.family == Family::kIpv6 ? AF_INET6
                                                : AF_UNSPEC;
  hints.ai_flags = ARES_AI_NOSORT;  // our order (IPv4, then IPv6), no probe sockets
  lookup->waiters.push_back(std::move(r));
  lookups_.emplace(std::move(key), std::move(lookup));
  lookups_sent_.fetch_add(1);
  in_flight_.fetch_add(1);
  // May answer at once (hosts file, bad name): OnAddrInfo runs inside.
  in_getaddrinfo_ = true;
  ares_getaddrinfo(channel_.get(), name.c_str(), nullptr, &hints, &OnAddrInfo, raw);
  in_getaddrinfo_ = false;
}

void Resolver::Impl::OnAddrInfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  auto* lookup = static_cast<Lookup*>(arg);
  Impl* self = lookup->impl;
  std::string resolver = self->servers_text_;
  if (self->stopping_) {
    status = ARES_ECANCELLED;  // even a partial AF_UNSPEC answer: stopped is stopped
  } else if (self->in_getaddrinfo_ && status == ARES_SUCCESS) {
    resolver = "hosts";  // answered inside ares_getaddrinfo: no server was asked
  } else if (self->processing_fd_ != ARES_SOCKET_BAD &&
             (status == ARES_SUCCESS || status == ARES_ENOTFOUND || status == ARES_ENODATA ||
              status == ARES_ESERVFAIL || status == ARES_EREFUSED)) {
    // A reply ended the lookup while c-ares read this socket: its peer is the server.
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    if (getpeername(self->processing_fd_, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
      resolver = dns::SpellAddress(reinterpret_cast<sockaddr*>(&peer));
    }
  }
  DnsAnswer answer = dns::AnswerFromAddrinfo(status, result, lookup->key.family, self->options_);
  answer.resolver = std::move(resolver);
  if (result != nullptr) ares_freeaddrinfo(result);

  auto it = self->lookups_.find(lookup->key);
  OW_CHECK(it != self->lookups_.end() && it->second.get() == lookup);
  std::unique_ptr<Lookup> done = std::move(it->second);
  self->lookups_.erase(it);
  self->in_flight_.fetch_sub(1);
  self->cache_.Store(done->key, answer, MonotonicMs());
  for (Request& r : done->waiters) self->Answer(r, answer);
}

void Resolver::Impl::OnSockState(void* data, ares_socket_t fd, int readable, int writable) {
  auto* self = static_cast<Impl*>(data);
  auto it = self->watches_.find(fd);
  if (!readable && !writable) {  // c-ares closes the socket right after this call
    if (it == self->watches_.end()) return;
    it->second->closed = true;
    self->retiring_.push_back(std::move(it->second));
    self->watches_.erase(it);
    return;
  }
  if (it == self->watches_.end()) {
    auto w = std::make_unique<Watch>();
    w->op = core::Operation{&OnPoll, w.get(), 0};
    w->impl = self;
    w->fd = fd;
    it = self->watches_.emplace(fd, std::move(w)).first;
  }
  it->second->want_read = readable != 0;
  it->second->want_write = writable != 0;
}

void Resolver::Impl::ProcessFd(int read_fd, int write_fd) {
  processing_fd_ = read_fd != ARES_SOCKET_BAD ? read_fd : write_fd;
  ares_process_fd(channel_.get(), read_fd, write_fd);
  processing_fd_ = ARES_SOCKET_BAD;
}

void Resolver::Impl::OnPoll(core::Operation* op, int32_t res, int64_t) noexcept {
  auto* w = static_cast<Watch*>(op->owner);
  w->in_flight = false;
  w->cancel_sent = false;
  if (w->closed || res == -ECANCELED) return;  // freed or re-armed by Sync
  // An error of the poll itself: let c-ares meet the socket's error on both sides.
  const unsigned ready = res < 0 ? (POLLIN | POLLOUT | POLLERR) : static_cast<unsigned>(res);
  const int rfd = w->want_read && (ready & (POLLIN | POLLERR | POLLHUP)) ? w->fd : ARES_SOCKET_BAD;
  const int wfd =
      w->want_write && (ready & (POLLOUT | POLLERR | POLLHUP)) ? w->fd : ARES_SOCKET_BAD;
  w->impl->ProcessFd(rfd, wfd);  // may retire w (c-ares closes the socket): w stays allocated
}

void Resolver::Impl::OnTimer(core::Operation* op, int32_t res, int64_t) noexcept {
  auto* self = static_cast<Impl*>(op->owner);
  self->timer_in_flight_ = false;
  if (res == -ECANCELED) return;
  self->ProcessFd(ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // c-ares's retries and timeouts
}

void Resolver::Impl::OnWake(core::Operation* op, int32_t, int64_t) noexcept {
  auto* self = static_cast<Impl*>(op->owner);
  self->wake_in_flight_ = false;
  self->woken_ = true;
}

void Resolver::Impl::Sync() {
  for (auto& [fd, w] : watches_) SyncWatch(*w);
  std::erase_if(retiring_, [](const std::unique_ptr<Watch>& w) { return !w->in_flight; });
  for (auto& w : retiring_) SyncWatch(*w);
  ArmTimer();
  ArmWake();
}

void Resolver::Impl::SyncWatch(Watch& w) {
  const unsigned want = w.closed ? 0u
                                 : (w.want_read ? unsigned{POLLIN} : 0u) |
                                       (w.want_write ? unsigned{POLLOUT} : 0u);
  if (w.in_flight) {
    if (w.armed != want && !w.cancel_sent) {
      io_uring_sqe* sqe = ring_->GetSqe();
      io_uring_prep_poll_remove(sqe, reinterpret_cast<uint64_t>(&w.op));
      io_uring_sqe_set_data64(sqe, kNoUserData);
      w.cancel_sent = true;
    }
    return;
  }
  if (want == 0) return;
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_poll_add(sqe, w.fd, want);
  ring_->Prep(sqe, &w.op);
  w.in_flight = true;
  w.armed = want;
}

void Resolver::Impl::ArmTimer() {
  if (stopping_) return;
  timeval tv{};
  if (ares_timeout(channel_.get(), nullptr, &tv) == nullptr) return;  // nothing to time
  const int64_t deadline =
      MonotonicMs() + static_cast<int64_t>(tv.tv_sec) * 1000 + (tv.tv_usec + 999) / 1000;
  if (!timer_in_flight_) {
    timer_ts_ = AbsTimespec(deadline);
    io_uring_sqe* sqe = ring_->GetSqe();
    io_uring_prep_timeout(sqe, &timer_ts_, 0, IORING_TIMEOUT_ABS);
    ring_->Prep(sqe, &timer_op_);
    timer_in_flight_ = true;
    timer_deadline_ms_ = deadline;
  } else if (deadline < timer_deadline_ms_) {
    // A later deadline needs no change: the early expiry finds nothing due
    // and the timer is armed again for the right time.
    timer_update_ts_ = AbsTimespec(deadline);
    io_uring_sqe* sqe = ring_->GetSqe();
    io_uring_prep_timeout_update(sqe, &timer_update_ts_, reinterpret_cast<uint64_t>(&timer_op_),
                                 IORING_TIMEOUT_ABS);
    io_uring_sqe_set_data64(sqe, kNoUserData);
    timer_deadline_ms_ = deadline;
  }
}

void Resolver::Impl::ArmWake() {
  if (wake_in_flight_ || stopping_) return;
  io_uring_sqe* sqe = ring_->GetSqe();
  io_uring_prep_read(sqe, wake_.get(), &wake_buf_, sizeof(wake_buf_), 0);
  ring_->Prep(sqe, &wake_op_);
  wake_in_flight_ = true;
}

bool Resolver::Impl::OpsInFlight() const {
  return timer_in_flight_ || wake_in_flight_ || !watches_.empty() || !retiring_.empty();
}

void Resolver::Impl::Shutdown() {
  // stopping_ is set: every lookup ends "stopped", whatever c-ares says.
  ares_cancel(channel_.get());
  channel_.reset();  // closes c-ares's sockets: OnSockState(fd, 0, 0) for each
  // None is left unless c-ares kept one from ares_cancel: it is answered all the same.
  while (!lookups_.empty()) {
    std::unique_ptr<Lookup> left = std::move(lookups_.begin()->second);
    lookups_.erase(lookups_.begin());
    in_flight_.fetch_sub(1);
    for (Request& r : left->waiters) Answer(r, Stopped(servers_text_));
  }
  for (auto& [fd, w] : watches_) {
    w->closed = true;
    retiring_.push_back(std::move(w));
  }
  watches_.clear();
  if (timer_in_flight_) {
    io_uring_sqe* sqe = ring_->GetSqe();
    io_uring_prep_timeout_remove(sqe, reinterpret_cast<uint64_t>(&timer_op_), 0);
    io_uring_sqe_set_data64(sqe, kNoUserData);
  }
  if (wake_in_flight_) {
    io_uring_sqe* sqe = ring_->GetSqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<uint64_t>(&wake_op_), 0);
    io_uring_sqe_set_data64(sqe, kNoUserData);
  }
  // Every cancelled operation completes at once; the bound only guards
  // against a kernel that never answers (the ring's exit then ends them).
  const int64_t until = MonotonicMs() + 2000;
  for (int i = 0; i < 200 && OpsInFlight() && MonotonicMs() < until; ++i) {
    Sync();
    ring_->Run(10);
  }
}

}  // namespace originwatch
