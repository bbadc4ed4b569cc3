// The engine: TCP connect and TLS handshake for many probes at once, all on one
// io_uring ring, on one thread.
//
// Connection states and transitions (one Conn per probe):
//   kConnecting --connect CQE ok--> kHandshaking (SSL created only now)
//   kConnecting --refused/timeout/error--> kClosing
//   kHandshaking: Drive() = Advance the handshake; send its output; recv more.
//     --handshake done--> facts copied, SSL freed, Finished+close_notify sent --> kClosing
//     --failure/deadline/byte cap--> kClosing
//     --handshake done, spec.http set--> kHttp (the SSL is kept for it; after
//       ALPN h2: a second connection offering http/1.1 only, back to kConnecting)
//   kConnecting --connected, spec.http->plain--> kHttp (no TLS at all)
//   kHttp: HttpSession (http_session.h): send the request, recv until the
//     response's head and bounded body are read, EOF, the byte cap or the
//     deadline --> kClosing. The probe's outcome stays that of the handshake.
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
#include "probe/engine_impl.h"
#include "probe/http_session.h"
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


struct Conn {
  enum class Phase { kConnecting, kHandshaking, kHttp, kFlushing, kClosing };

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
  uint64_t conn_bytes = 0;  // read on this connection (the handshake byte cap)
  bool times_final = false;
  __kernel_timespec ts{};  // read by the kernel when the linked timeout is submitted
  std::unique_ptr<tls::Handshake> hs;
  std::unique_ptr<uint8_t[]> recv_buf;  // only without provided buffers
  int held_buffer = -1;  // the provided buffer of the completion being handled
  std::vector<uint8_t> send_buf;
  size_t send_off = 0;
  bool sending = false;  // which operation op_main is in kHandshaking and kHttp
  std::unique_ptr<probe::HttpSession> http;  // in kHttp
  bool second_conn = false;  // the HTTP check's connection after ALPN h2

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
    const bool plain = result.spec.http && result.spec.http->plain;
    if (!plain && engine->contexts_->Find(result.spec.profile) == nullptr) {
      return Fail(Outcome::kInternal, "unknown client profile \"" + result.spec.profile + "\"",
                  start_mono);
    }
    Connect(start_mono);
  }

  void Connect(int64_t now) {
    fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) {
      return Fail(Outcome::kInternal, std::string("socket: ") + std::strerror(errno), now);
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
      case Phase::kHttp: return sending ? OnHttpSent(res, now) : OnHttpRecv(res, now);
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
    // The second connection (after h2) only carries the HTTP request: the
    // probe's facts stay the first connection's.
    if (!second_conn) result.connect_ms = connected_mono - start_mono;
    if (!engine->provided_buffers_ && !recv_buf) recv_buf = std::make_unique<uint8_t[]>(kRecvBufferSize);
    if (!second_conn && result.spec.http && result.spec.http->plain) {
      result.outcome = Outcome::kOk;  // plain http://: connected is the probe's success
      FinishTimes(now);
      return StartHttp(nullptr, now);
    }
    phase = Phase::kHandshaking;
    // The SSL exists only from here to the end of the handshake (or of the
    // HTTP exchange, when the probe has one).
    hs = std::make_unique<tls::Handshake>(engine->contexts_->Find(result.spec.profile), result.spec,
                                          engine->contexts_->request_ocsp());
    if (second_conn) hs->OfferOnlyAlpn("http/1.1");
    Drive(now);
  }

  // Advances the handshake and issues the next I/O. now: when the bytes it
  // works on were known to have arrived.
  void Drive(int64_t now) {
    tls::Handshake::State st = hs->Advance();
    if (st == tls::Handshake::State::kFailed) {
      if (second_conn) {
        ProbeResult second;
        hs->Fill(&second);
        return Fail(second.outcome, std::string(OutcomeCode(second.outcome)) + ": " + second.error_text, now);
      }
      hs->Fill(&result);
      return Close(now);
    }
    if (st == tls::Handshake::State::kDone && result.spec.http) return HandshakeDoneHttp(now);
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
      return TimedOut(deadline);  // it ended at its deadline, while handlers ran (kHttp too)
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
    conn_bytes += static_cast<uint64_t>(res);
    if (conn_bytes > engine->options_.max_handshake_bytes) {
      if (!second_conn) {
        FillFacts();
        result.chain.clear();
      }
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

  // The handshake's facts are the probe's, except on the second connection.
  void FillFacts() {
    if (!second_conn) hs->Fill(&result);
  }

  void HandshakeDoneHttp(int64_t now) {
    if (!second_conn) {
      result.handshake_ms = now - connected_mono;
      hs->Fill(&result);
      FinishTimes(now);
      if (!result.alpn.empty() && result.alpn != "http/1.1") return Reconnect(now);
    }
    StartHttp(std::move(hs), now);
  }

  // After ALPN h2: a clean goodbye on this connection (best effort, without
  // waiting), then the same address again, offering http/1.1 only, within the
  // probe's deadline.
  void Reconnect(int64_t now) {
    hs->Shutdown();
    std::vector<uint8_t> bye(hs->PendingOutput());
    bye.resize(hs->TakeOutput(bye.data(), bye.size()));
    if (!bye.empty()) {
      ssize_t n = ::send(fd, bye.data(), bye.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) result.bytes_written += static_cast<uint64_t>(n);
    }
    hs.reset();
    ::close(fd);  // no operation of this Conn uses the socket now
    fd = -1;
    second_conn = true;
    result.http.second_connection = true;
    conn_bytes = 0;
    phase = Phase::kConnecting;
    int64_t mono = MonotonicMs();
    connect_deadline = std::min<int64_t>(mono + result.spec.connect_timeout_ms, deadline);
    if (mono >= deadline) return Fail(Outcome::kConnectTimeout, "the probe's deadline passed before it could start", now);
    Connect(now);
  }

  void StartHttp(std::unique_ptr<tls::Handshake> tls, int64_t now) {
    phase = Phase::kHttp;
    const HttpCheck& check = *result.spec.http;
    http = std::make_unique<probe::HttpSession>(
        result.spec, std::move(tls),
        check.max_head_bytes + check.max_body_bytes + engine->options_.max_handshake_bytes);
    if (!http->Start()) return EndHttp(now);
    http->TakeOutput(&send_buf);
    send_off = 0;
    IssueSend(Phase::kHttp, now);
  }

  void OnHttpSent(int32_t res, int64_t now) {
    if (res < 0) return HttpIoFailed(-res, "send", now);
    result.bytes_written += static_cast<uint64_t>(res);
    send_off += static_cast<size_t>(res);
    if (send_off < send_buf.size()) return IssueSend(Phase::kHttp, now);
    std::vector<uint8_t>().swap(send_buf);
    send_off = 0;
    http->RequestSent(now);
    IssueRecv();
  }

  void OnHttpRecv(int32_t res, int64_t now) {
    if (res == -ENOBUFS && engine->provided_buffers_) {
      engine->starved_.push_back(this);
      ++engine->stats_.recv_buffer_waits;
      return;
    }
    if (res < 0) return HttpIoFailed(-res, "recv", now);
    if (res == 0) {
      http->OnEof(now);
      return EndHttp(now);
    }
    result.bytes_read += static_cast<uint64_t>(res);
    const uint8_t* data =
        held_buffer >= 0 ? ring().Buffer(static_cast<uint16_t>(held_buffer)) : recv_buf.get();
    bool done = http->OnBytes(data, static_cast<size_t>(res), now);
    if (held_buffer >= 0) ReturnHeldBuffer();  // the bytes were copied or parsed
    if (done) return EndHttp(now);
    IssueRecv();
  }

  void HttpIoFailed(int err, const char* what, int64_t now) {
    if (err == ECANCELED || err == ETIME) return TimedOut(now);
    if (err == ECONNRESET || err == EPIPE) {
      http->OnFailed(HttpOutcome::kClosed, std::string(what) + ": connection reset by peer", now);
    } else {
      http->OnFailed(HttpOutcome::kError, std::string(what) + ": " + std::strerror(err), now);
    }
    EndHttp(now);
  }

  void EndHttp(int64_t now) {
    http->Fill(&result.http);
    result.http.second_connection = second_conn;
    http.reset();
    Close(now);
  }

  void OnFlushed(int32_t res, int64_t now) {
    if (res > 0) result.bytes_written += static_cast<uint64_t>(res);
    Close(now);  // success is already recorded; a failed goodbye changes nothing
  }

  void IoFailed(int err, const char* what, int64_t now) {
    if (err == ECANCELED || err == ETIME) return TimedOut(now);
    if (hs) FillFacts();
    if (err == ECONNRESET || err == EPIPE)
      return Fail(Outcome::kReset, std::string(what) + ": connection reset by peer", now);
    return Fail(Outcome::kNetworkError, std::string(what) + ": " + std::strerror(err), now);
  }

  void TimedOut(int64_t now) {
    if (http) {
      http->OnTimedOut(now, result.spec.timeout_ms);
      return EndHttp(now);
    }
    if (hs) FillFacts();
    Fail(Outcome::kHandshakeTimeout,
         "connected, but the TLS handshake did not finish within " +
             std::to_string(result.spec.timeout_ms) + " ms (" + std::to_string(result.bytes_read) +
             " bytes received)",
         now);
  }

  void Fail(Outcome o, std::string text, int64_t now) {
    if (second_conn) {
      // The probe's handshake succeeded; the HTTP check's connection did not.
      result.http.outcome = HttpOutcome::kError;
      result.http.second_connection = true;
      result.http.error_text = "the second connection (offering http/1.1 only, after h2) failed: " + text;
      return Close(now);
    }
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

Engine::Impl::Impl(EngineOptions options, std::unique_ptr<core::Ring> ring,
                   std::unique_ptr<tls::ClientContexts> contexts)
    : options_(std::move(options)), ring_(std::move(ring)), contexts_(std::move(contexts)) {
  buffer_count_ = PowerOfTwoBuffers(options_.recv_buffers);
  provided_buffers_ = ring_->SetupBuffers(buffer_count_, kProvidedBufferSize).ok();
}

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

}  // namespace originwatch
