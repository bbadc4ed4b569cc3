// The engine: TCP connect and TLS handshake for many probes at once, all on one
// io_uring ring, on one thread.
//
// Connection states and transitions (one Conn per probe):
//   kConnecting --connect CQE ok--> kHandshaking (SSL created only now)
//   kConnecting --refused/timeout/error--> kClosing
//   kHandshaking: Drive() = Advance the handshake; send its output; recv more.
//     --handshake done--> facts copied, SSL freed, Finished+close_notify sent --> kClosing
//     --failure/deadline/byte cap--> kClosing
//   kClosing: waits until no operation of the Conn is in flight (an operation
//     and its linked timeout each end with a CQE), then IORING_OP_CLOSE.
//   close CQE --> callback, Conn deleted.
// Every SQE that can wait on the peer carries a linked timeout at the probe's
// deadline, so every Conn ends.
//
// Memory: a Conn holds no receive buffer. Receives pick one of the ring's
// provided buffers when their bytes arrive (IOSQE_BUFFER_SELECT), and the
// buffer goes back as soon as Handshake::Feed has copied the bytes, so the
// buffers in use are those of the completions being handled, not one per
// waiting handshake. A receive that finds none left (-ENOBUFS: more arrived in
// one batch than there are buffers) waits in `starved_` and is issued again
// from Poll once the batch has returned its buffers. Kernels without buffer
// rings (before 5.19) get a buffer per Conn, held while it handshakes.
//
// Time: a probe's deadlines are fixed once, when it starts (Submit): an
// absolute monotonic time that the kernel enforces however late the SQE is
// submitted. Its phases are timed with the ring's batch timestamp (taken when
// the completions were reaped, before any handler ran), so the work of other
// handlers and callbacks in the same batch never counts as this probe's
// connect or handshake time.
#include "originwatch/clock.h"
#include "originwatch/engine.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "core/ring.h"
#include "tls/context.h"
#include "tls/handshake.h"
#include "tls/key_decoding.h"

namespace originwatch {
namespace {

constexpr size_t kRecvBufferSize = 16 * 1024;  // without provided buffers
// Provided buffers (EngineOptions::recv_buffers of them, 512 = 4 MiB of address
// space per engine, resident only once used). A server's first flight
// (certificates) mostly fits one.
constexpr unsigned kProvidedBufferSize = 8 * 1024;

unsigned PowerOfTwoBuffers(unsigned n) {
  unsigned p = 1;
  while (p < n && p < 32768) p <<= 1;
  return p;
}
constexpr int kTagMain = 1;
constexpr int kTagTimeout = 2;
constexpr int kTagClose = 3;

}  // namespace

struct Conn;

class Engine::Impl {
 public:
  Impl(EngineOptions options, std::unique_ptr<core::Ring> ring,
       std::unique_ptr<tls::ClientContexts> contexts)
      : options_(std::move(options)), ring_(std::move(ring)), contexts_(std::move(contexts)) {
    buffer_count_ = PowerOfTwoBuffers(options_.recv_buffers);
    provided_buffers_ = ring_->SetupBuffers(buffer_count_, kProvidedBufferSize).ok();
  }

  void Submit(ProbeSpec spec, Callback cb);
  int Poll(int timeout_ms);
  void Deliver(Conn* c);

  EngineOptions options_;
  std::unique_ptr<core::Ring> ring_;
  std::unique_ptr<tls::ClientContexts> contexts_;
  EngineStats stats_;
  int completed_this_poll_ = 0;
  std::vector<Conn*> deferred_;  // ended before any I/O; delivered by Poll
  bool provided_buffers_ = false;
  unsigned buffer_count_ = 0;
  std::deque<Conn*> starved_;  // their recv found no provided buffer (-ENOBUFS)
  void IssueStarved();
};

struct Conn {
  enum class Phase { kConnecting, kHandshaking, kFlushing, kClosing };

  Engine::Impl* engine = nullptr;
  ProbeResult result;
  Engine::Callback cb;
  Phase phase = Phase::kConnecting;
  int fd = -1;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  core::Operation op_main;
  core::Operation op_timeout;
  core::Operation op_close;
  int pending = 0;        // CQEs still owed to this Conn
  bool close_submitted = false;
  int64_t start_mono = 0;
  int64_t connect_deadline = 0;
  int64_t deadline = 0;
  int64_t connected_mono = 0;
  bool times_final = false;
  __kernel_timespec ts{};  // read by the kernel when the linked timeout is submitted
  std::unique_ptr<tls::Handshake> hs;
  std::unique_ptr<uint8_t[]> recv_buf;  // only without provided buffers
  int held_buffer = -1;  // the provided buffer of the completion being handled
  std::vector<uint8_t> send_buf;
  size_t send_off = 0;
  bool sending = false;  // which operation op_main is in kHandshaking

  core::Ring& ring() { return *engine->ring_; }

  static void OnCqe(core::Operation* op, int32_t res, int64_t now) noexcept {
    auto* c = static_cast<Conn*>(op->owner);
    --c->pending;
    switch (op->tag) {
      case kTagMain: {
        uint16_t id = 0;
        if (core::Ring::PickedBuffer(op->cqe_flags, &id)) c->held_buffer = id;
        c->OnMain(res, now);
        // Whatever the handler did with it (an error, EOF, a late completion
        // after failure), the buffer goes back to the kernel now.
        if (c->held_buffer >= 0) c->ReturnHeldBuffer();
        break;
      }
      case kTagTimeout:
        // -ETIME: the deadline passed and the operation was cancelled (its own
        // CQE says -ECANCELED); -ECANCELED: the operation finished first.
        break;
      case kTagClose:
        c->fd = -1;
        c->engine->Deliver(c);
        return;  // c is gone
    }
    if (c->phase == Phase::kClosing) c->MaybeClose();
  }

  void Init() {
    op_main = {&Conn::OnCqe, this, kTagMain};
    op_timeout = {&Conn::OnCqe, this, kTagTimeout};
    op_close = {&Conn::OnCqe, this, kTagClose};
  }

  // Queues sqe (already prepared) linked to a timeout at deadline_mono.
  void LinkDeadline(io_uring_sqe* sqe, int64_t deadline_mono) {
    ring().Prep(sqe, &op_main);
    ring().LinkDeadline(sqe, deadline_mono, &ts, &op_timeout);
    pending += 2;
  }

  void Start() {
    start_mono = MonotonicMs();
    result.started_at_ms = UnixNowMs();
    int64_t connect_ms = std::min(result.spec.connect_timeout_ms, result.spec.timeout_ms);
    connect_deadline = start_mono + connect_ms;
    deadline = start_mono + result.spec.timeout_ms;

    std::memset(&addr, 0, sizeof(addr));
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (inet_pton(AF_INET, result.spec.address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(result.spec.port);
      addr_len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, result.spec.address.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(result.spec.port);
      addr_len = sizeof(sockaddr_in6);
    } else {
      return Fail(Outcome::kInternal, "not a numeric address: \"" + result.spec.address + "\"",
                  start_mono);
    }
    if (engine->contexts_->Find(result.spec.profile) == nullptr) {
      return Fail(Outcome::kInternal, "unknown client profile \"" + result.spec.profile + "\"",
                  start_mono);
    }
    fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) {
      return Fail(Outcome::kInternal, std::string("socket: ") + std::strerror(errno), start_mono);
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ring().Reserve(2);
    io_uring_sqe* sqe = ring().GetSqe();
    io_uring_prep_connect(sqe, fd, reinterpret_cast<sockaddr*>(&addr), addr_len);
    LinkDeadline(sqe, connect_deadline);
  }

  // now: the time the completion's batch was reaped (see the file comment).
  void OnMain(int32_t res, int64_t now) {
    switch (phase) {
      case Phase::kConnecting: return OnConnect(res, now);
      case Phase::kHandshaking: return sending ? OnSend(res, now) : OnRecv(res, now);
      case Phase::kFlushing: return OnFlushed(res, now);
      case Phase::kClosing: return;  // a late completion after failure
    }
  }

  void OnConnect(int32_t res, int64_t now) {
    if (res < 0) {
      int err = -res;
      switch (err) {
        case ECONNREFUSED: return Fail(Outcome::kRefused, "connection refused", now);
        case ECANCELED:
        case ETIMEDOUT:
          return Fail(Outcome::kConnectTimeout,
                      "no answer to TCP connect within " +
                          std::to_string(connect_deadline - start_mono) + " ms",
                      now);
        case ECONNRESET: return Fail(Outcome::kReset, "connection reset during connect", now);
        default:
          return Fail(Outcome::kNetworkError, std::string("connect: ") + std::strerror(err), now);
      }
    }
    connected_mono = std::max(now, start_mono);
    result.connect_ms = connected_mono - start_mono;
    phase = Phase::kHandshaking;
    // The SSL exists only from here to the end of the handshake.
    hs = std::make_unique<tls::Handshake>(engine->contexts_->Find(result.spec.profile), result.spec,
                                          engine->contexts_->request_ocsp());
    if (!engine->provided_buffers_) recv_buf = std::make_unique<uint8_t[]>(kRecvBufferSize);
    Drive(now);
  }

  // Advances the handshake and issues the next I/O. now: when the bytes it
  // works on were known to have arrived.
  void Drive(int64_t now) {
    tls::Handshake::State st = hs->Advance();
    if (st == tls::Handshake::State::kFailed) {
      hs->Fill(&result);
      return Close(now);
    }
    if (st == tls::Handshake::State::kDone) {
      result.handshake_ms = now - connected_mono;
      hs->Fill(&result);
      // Client Finished (TLS 1.3) and close_notify: a clean goodbye, so the
      // origin's logs show a completed handshake, not an aborted one.
      hs->Shutdown();
      send_buf.resize(hs->PendingOutput());
      send_buf.resize(hs->TakeOutput(send_buf.data(), send_buf.size()));
      hs.reset();
      recv_buf.reset();
      FinishTimes(now);
      if (send_buf.empty()) return Close(now);
      phase = Phase::kFlushing;
      return IssueSend(Phase::kFlushing, now);
    }
    if (hs->PendingOutput() > 0) {
      send_buf.resize(hs->PendingOutput());
      send_buf.resize(hs->TakeOutput(send_buf.data(), send_buf.size()));
      send_off = 0;
      return IssueSend(Phase::kHandshaking, now);
    }
    IssueRecv();
  }

  // A deadline already past is not worth an SQE (the kernel would end it at
  // once all the same: the linked timeout is absolute).
  void IssueSend(Phase for_phase, int64_t now) {
    if (MonotonicMs() >= deadline) {
      // The goodbye after a completed handshake is best effort: the result is
      // already recorded and must not turn into a timeout.
      if (for_phase == Phase::kFlushing) return Close(now);
      return TimedOut(deadline);  // it ended at its deadline, while handlers ran
    }
    sending = true;
    ring().Reserve(2);
    io_uring_sqe* sqe = ring().GetSqe();
    io_uring_prep_send(sqe, fd, send_buf.data() + send_off, send_buf.size() - send_off, MSG_NOSIGNAL);
    LinkDeadline(sqe, deadline);
  }

  void IssueRecv() {
    if (MonotonicMs() >= deadline) return TimedOut(deadline);
    sending = false;
    ring().Reserve(2);
    io_uring_sqe* sqe = ring().GetSqe();
    if (engine->provided_buffers_) {
      io_uring_prep_recv(sqe, fd, nullptr, ring().buffer_size(), 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = core::Ring::buffer_group();
    } else {
      io_uring_prep_recv(sqe, fd, recv_buf.get(), kRecvBufferSize, 0);
    }
    LinkDeadline(sqe, deadline);
  }

  void ReturnHeldBuffer() {
    ring().ReturnBuffer(static_cast<uint16_t>(held_buffer));
    held_buffer = -1;
  }

  void OnSend(int32_t res, int64_t now) {
    if (res < 0) return IoFailed(-res, "send", now);
    result.bytes_written += static_cast<uint64_t>(res);
    send_off += static_cast<size_t>(res);
    if (send_off < send_buf.size()) return IssueSend(Phase::kHandshaking, now);
    std::vector<uint8_t>().swap(send_buf);  // no capacity kept while waiting
    send_off = 0;
    Drive(now);
  }

  void OnRecv(int32_t res, int64_t now) {
    if (res == -ENOBUFS && engine->provided_buffers_) {
      // Every provided buffer is taken by completions of this batch; they
      // are returned before Poll issues this receive again.
      engine->starved_.push_back(this);
      ++engine->stats_.recv_buffer_waits;
      return;
    }
    if (res < 0) return IoFailed(-res, "recv", now);
    if (res == 0) {
      hs->FeedEof();
      return Drive(now);
    }
    result.bytes_read += static_cast<uint64_t>(res);
    if (result.bytes_read > engine->options_.max_handshake_bytes) {
      hs->Fill(&result);
      result.chain.clear();
      return Fail(Outcome::kTooLarge,
                  "the server sent more than " +
                      std::to_string(engine->options_.max_handshake_bytes) +
                      " bytes without completing the handshake",
                  now);
    }
    if (held_buffer >= 0) {
      hs->Feed(ring().Buffer(static_cast<uint16_t>(held_buffer)), static_cast<size_t>(res));
      ReturnHeldBuffer();  // Feed copied the bytes: the buffer is free for others
    } else {
      hs->Feed(recv_buf.get(), static_cast<size_t>(res));
    }
    Drive(now);
  }

  void OnFlushed(int32_t res, int64_t now) {
    if (res > 0) result.bytes_written += static_cast<uint64_t>(res);
    Close(now);  // success is already recorded; a failed goodbye changes nothing
  }

  void IoFailed(int err, const char* what, int64_t now) {
    if (err == ECANCELED || err == ETIME) return TimedOut(now);
    if (hs) hs->Fill(&result);
    if (err == ECONNRESET || err == EPIPE)
      return Fail(Outcome::kReset, std::string(what) + ": connection reset by peer", now);
    return Fail(Outcome::kNetworkError, std::string(what) + ": " + std::strerror(err), now);
  }

  void TimedOut(int64_t now) {
    if (hs) hs->Fill(&result);
    Fail(Outcome::kHandshakeTimeout,
         "connected, but the TLS handshake did not finish within " +
             std::to_string(result.spec.timeout_ms) + " ms (" + std::to_string(result.bytes_read) +
             " bytes received)",
         now);
  }

  void Fail(Outcome o, std::string text, int64_t now) {
    result.outcome = o;
    result.error_text = std::move(text);
    Close(now);
  }

  // The probe's end: the handshake's end on success (the goodbye after it is
  // not the origin's time), the failure's otherwise.
  void FinishTimes(int64_t now) {
    if (times_final) return;
    times_final = true;
    result.total_ms = std::max<int64_t>(now - start_mono, 0);
  }

  void Close(int64_t now) {
    FinishTimes(now);
    phase = Phase::kClosing;
    hs.reset();
    MaybeClose();
  }

  void MaybeClose() {
    if (pending > 0 || close_submitted) return;
    close_submitted = true;
    if (fd < 0) {
      // Never connected: delivered from Poll, not from inside Submit.
      engine->deferred_.push_back(this);
      return;
    }
    io_uring_sqe* sqe = ring().GetSqe();
    io_uring_prep_close(sqe, fd);
    ring().Prep(sqe, &op_close);
    ++pending;
  }
};

void Engine::Impl::Submit(ProbeSpec spec, Callback cb) {
  auto* c = new Conn();
  c->engine = this;
  c->Init();
  c->result.spec = std::move(spec);
  c->cb = std::move(cb);
  ++stats_.started;
  ++stats_.in_flight;
  stats_.peak_in_flight = std::max(stats_.peak_in_flight, stats_.in_flight);
  c->Start();
}

void Engine::Impl::Deliver(Conn* c) {
  std::unique_ptr<Conn> owned(c);
  --stats_.in_flight;
  ++stats_.completed;
  if (c->result.ok()) ++stats_.ok;
  ++completed_this_poll_;
  if (c->cb) c->cb(std::move(c->result));
}

// Issues again the receives that found no buffer: at most as many as there
// are buffers, since every buffer of the last batch is back by now.
void Engine::Impl::IssueStarved() {
  for (unsigned i = 0; i < buffer_count_ && !starved_.empty(); ++i) {
    Conn* c = starved_.front();
    starved_.pop_front();
    c->IssueRecv();  // or its end, when the deadline passed meanwhile
  }
}

int Engine::Impl::Poll(int timeout_ms) {
  completed_this_poll_ = 0;
  ring_->Run(deferred_.empty() && starved_.empty() ? timeout_ms : 0);
  IssueStarved();
  while (!deferred_.empty()) {
    std::vector<Conn*> batch;
    batch.swap(deferred_);
    for (Conn* c : batch) Deliver(c);
  }
  return completed_this_poll_;
}

namespace {
tls::ContextOptions ContextOptionsOf(const EngineOptions& options) {
  tls::ContextOptions copts;
  copts.profiles = options.profiles;
  copts.ca_file = options.ca_file;
  copts.request_ocsp = options.request_ocsp;
  copts.known_certs = options.known_certs;
  // ORIGINWATCH_CHAIN_CACHE=0: every chain verified and its facts extracted
  // anew (the cold-cache figure of bench/README.md).
  const char* cache_env = std::getenv("ORIGINWATCH_CHAIN_CACHE");
  copts.cache_chains = options.cache_chains && !(cache_env != nullptr && std::string(cache_env) == "0");
  return copts;
}
}  // namespace

bool PrepareOpenSsl() { return tls::UseBuiltinKeyMethods(); }

uint64_t CaBundleDigest(const std::string& ca_file) {
  FILE* f = std::fopen(ca_file.empty() ? tls::DefaultCaFile() : ca_file.c_str(), "rb");
  if (f == nullptr) return 0;
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  unsigned char buf[16384];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    for (size_t i = 0; i < n; ++i) {
      h ^= buf[i];
      h *= 1099511628211ULL;
    }
  }
  std::fclose(f);
  return h == 0 ? 1 : h;
}

Status Engine::CheckOptions(const EngineOptions& options) {
  auto contexts = tls::ClientContexts::Create(ContextOptionsOf(options));
  return contexts.ok() ? Status::Ok() : contexts.status();
}

Result<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  auto contexts = tls::ClientContexts::Create(ContextOptionsOf(options));
  if (!contexts.ok()) return contexts.status();
  auto ring = core::Ring::Create(options.ring_entries);
  if (!ring.ok()) return ring.status();
  auto impl = std::make_unique<Impl>(options, std::move(ring).value(), std::move(contexts).value());
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() { RunUntilIdle(); }

void Engine::Submit(ProbeSpec spec, Callback cb) { impl_->Submit(std::move(spec), std::move(cb)); }

int Engine::Poll(int timeout_ms) { return impl_->Poll(timeout_ms); }

void Engine::RunUntilIdle() {
  while (impl_->stats_.in_flight > 0) impl_->Poll(1000);
}

size_t Engine::in_flight() const { return impl_->stats_.in_flight; }
const EngineStats& Engine::stats() const { return impl_->stats_; }
const std::string& Engine::ring_mode() const { return impl_->ring_->mode(); }
const std::string& Engine::ca_description() const { return impl_->contexts_->ca_description(); }

std::vector<ProbeResult> Engine::RunAll(const std::vector<ProbeSpec>& specs) {
  std::vector<ProbeResult> out(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    Submit(specs[i], [&out, i](ProbeResult&& r) { out[i] = std::move(r); });
  }
  RunUntilIdle();
  return out;
}

}  // namespace originwatch
