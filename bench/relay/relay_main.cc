// originwatch-delay-relay: a TCP relay that adds a fixed delay to every byte,
// so that load tests see real round trips (RTT = 2 x delay) on loopback.
//
//   originwatch-delay-relay --map FILE --delay-ms D
//
// FILE has one line per listener, "LISTEN_IP:PORT TARGET_IP:PORT" (IPv4;
// "#" starts a comment). For every accepted connection the relay connects to
// the target at once and forwards the bytes read on one side to the other D ms
// after they were read; a half-close (FIN) and a reset are forwarded D ms after
// they were seen too. Each direction buffers at most kMaxBuffered bytes: when
// it is full the relay stops reading that side (TCP flow control does the
// rest), so memory per connection is bounded.
//
// One thread, epoll, level-triggered. Prints "ready" (flushed) once every
// listener is bound; exits 0 on SIGTERM or SIGINT.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr size_t kMaxBuffered = 256 * 1024;  // per direction
constexpr size_t kReadChunk = 64 * 1024;

int64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

bool ParseAddr(const std::string& text, sockaddr_in* out) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(out, 0, sizeof(*out));
  out->sin_family = AF_INET;
  if (inet_pton(AF_INET, text.substr(0, colon).c_str(), &out->sin_addr) != 1) return false;
  char* end = nullptr;
  long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) return false;
  out->sin_port = htons(static_cast<uint16_t>(port));
  return true;
}

struct Pair;

// What an epoll event points to: a listener, a signalfd or one side of a pair.
struct Endpoint {
  enum Kind { kListener, kSignal, kSide } kind;
  Pair* pair = nullptr;
  int side = 0;  // 0: the accepted (client) socket, 1: the target socket
  int fd = -1;
  sockaddr_in target{};  // kListener
};

// Bytes read from one side, due on the other side at `due_ms`. An empty chunk
// with eof set is the half-close; with reset set, the reset.
struct Chunk {
  int64_t due_ms;
  std::vector<uint8_t> bytes;
  size_t off = 0;
  bool eof = false;
  bool reset = false;
};

// Direction d carries what side d read to side 1-d.
struct Direction {
  std::deque<Chunk> chunks;
  size_t buffered = 0;
  bool read_done = false;   // side d saw EOF or an error: no more reads
  bool write_done = false;  // the EOF was delivered (shutdown) to side 1-d
};

struct Pair {
  Endpoint ends[2];
  Direction dirs[2];
  bool connected = false;  // the target connect completed
  bool dead = false;
  unsigned events[2] = {0, 0};
  bool registered[2] = {false, false};
  int timers = 0;  // timers_ entries naming this pair
};

class Relay {
 public:
  explicit Relay(int64_t delay_ms) : delay_ms_(delay_ms) {}

  bool Listen(const sockaddr_in& listen_addr, const sockaddr_in& target) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&listen_addr), sizeof(listen_addr)) != 0 ||
        ::listen(fd, 4096) != 0) {
      std::fprintf(stderr, "originwatch-delay-relay: bind/listen: %s\n", std::strerror(errno));
      ::close(fd);
      return false;
    }
    auto* e = new Endpoint{Endpoint::kListener, nullptr, 0, fd, target};
    listeners_.push_back(e);
    return Add(fd, EPOLLIN, e);
  }

  bool Init() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    int sfd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (epfd_ < 0 || sfd < 0) return false;
    signal_ = Endpoint{Endpoint::kSignal, nullptr, 0, sfd, {}};
    return Add(sfd, EPOLLIN, &signal_);
  }

  int Run() {
    std::vector<epoll_event> events(1024);
    while (!stop_) {
      int timeout = -1;
      if (!timers_.empty()) {
        int64_t wait = timers_.front().due_ms - NowMs();
        timeout = wait < 0 ? 0 : static_cast<int>(wait);
      }
      if (accept_paused_) timeout = (timeout < 0 || timeout > 100) ? 100 : timeout;
      int n = ::epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), timeout);
      if (n < 0 && errno != EINTR) {
        std::perror("originwatch-delay-relay: epoll_wait");
        return 1;
      }
      for (int i = 0; i < n; ++i) {
        auto* e = static_cast<Endpoint*>(events[i].data.ptr);
        if (e->kind == Endpoint::kSignal)
          stop_ = true;
        else if (e->kind == Endpoint::kListener)
          Accept(e);
        else
          OnSide(e->pair, e->side, events[i].events);
      }
      if (accept_paused_ && NowMs() >= accept_resume_ms_) ResumeAccept();
      RunTimers();
      for (Pair* p : dead_) delete p;
      dead_.clear();
    }
    return 0;
  }

 private:
  // A direction with something due at due_ms.
  struct Timer {
    int64_t due_ms;
    Pair* pair;
    int dir;
  };

  bool Add(int fd, unsigned events, Endpoint* e) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = e;
    return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
  }

  void Accept(Endpoint* l) {
    for (int i = 0; i < 256; ++i) {
      int fd = ::accept4(l->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          PauseAccept();  // out of fds: let the backlog hold them for a while
        }
        return;
      }
      int t = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (t < 0) {
        ::close(fd);
        PauseAccept();
        return;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ::setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      int rc = ::connect(t, reinterpret_cast<const sockaddr*>(&l->target), sizeof(l->target));
      if (rc != 0 && errno != EINPROGRESS) {
        ::close(t);
        ::close(fd);
        continue;
      }
      auto* p = new Pair();
      p->ends[0] = Endpoint{Endpoint::kSide, p, 0, fd, {}};
      p->ends[1] = Endpoint{Endpoint::kSide, p, 1, t, {}};
      p->connected = rc == 0;
      Update(p);
    }
  }

  void PauseAccept() {
    if (accept_paused_) return;
    accept_paused_ = true;
    accept_resume_ms_ = NowMs() + 100;
    for (Endpoint* l : listeners_) {
      epoll_event ev{};
      ev.data.ptr = l;
      ::epoll_ctl(epfd_, EPOLL_CTL_MOD, l->fd, &ev);
    }
  }

  void ResumeAccept() {
    accept_paused_ = false;
    for (Endpoint* l : listeners_) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = l;
      ::epoll_ctl(epfd_, EPOLL_CTL_MOD, l->fd, &ev);
    }
  }

  // The epoll interest of both sides, from the state: read side s while its
  // direction has room; write side s while bytes due for it wait (a write hit
  // EAGAIN). A side with no interest leaves the epoll set, so that a hung-up
  // socket does not wake the loop over and over.
  void Update(Pair* p) {
    if (p->dead) return;
    for (int s = 0; s < 2; ++s) {
      unsigned want = 0;
      if (s == 1 && !p->connected) {
        want = EPOLLOUT;
      } else {
        const Direction& in = p->dirs[s];
        const Direction& out = p->dirs[1 - s];
        if (!in.read_done && in.buffered < kMaxBuffered && p->connected) want |= EPOLLIN;
        if (!out.chunks.empty() && out.chunks.front().due_ms <= NowMs()) want |= EPOLLOUT;
      }
      if (want == p->events[s] && (want != 0) == p->registered[s]) continue;
      epoll_event ev{};
      ev.events = want;
      ev.data.ptr = &p->ends[s];
      if (want == 0) {
        ::epoll_ctl(epfd_, EPOLL_CTL_DEL, p->ends[s].fd, nullptr);
        p->registered[s] = false;
      } else {
        ::epoll_ctl(epfd_, p->registered[s] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, p->ends[s].fd, &ev);
        p->registered[s] = true;
      }
      p->events[s] = want;
    }
  }

  void OnSide(Pair* p, int side, unsigned events) {
    if (p->dead) return;
    if (side == 1 && !p->connected) {
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(p->ends[1].fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return Kill(p, true);
      p->connected = true;
      // Bytes the client sent before the target answered are due already
      // or soon: flush what is due.
      Flush(p, 0);
      return Update(p);
    }
    if ((events & EPOLLERR) && p->dirs[side].read_done) return Kill(p, true);
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) Read(p, side);
    if (!p->dead && (events & EPOLLOUT)) Flush(p, 1 - side);
    if (!p->dead) Update(p);
  }

  void Read(Pair* p, int side) {
    Direction& d = p->dirs[side];
    if (d.read_done) return;
    while (d.buffered < kMaxBuffered) {
      size_t want = std::min(kReadChunk, kMaxBuffered - d.buffered);
      ssize_t n = ::recv(p->ends[side].fd, buf_, want, 0);
      if (n > 0) {
        Chunk c{NowMs() + delay_ms_, std::vector<uint8_t>(buf_, buf_ + n)};
        d.buffered += static_cast<size_t>(n);
        Push(p, side, std::move(c));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      Chunk c{NowMs() + delay_ms_, {}};
      c.eof = true;
      c.reset = n < 0;
      d.read_done = true;
      Push(p, side, std::move(c));
      return;
    }
  }

  void Push(Pair* p, int dir, Chunk c) {
    // One timer per chunk; the delay is constant, so timers_ stays in order.
    timers_.push_back({c.due_ms, p, dir});
    ++p->timers;
    p->dirs[dir].chunks.push_back(std::move(c));
  }

  // Writes what is due in direction dir to side 1-dir.
  void Flush(Pair* p, int dir) {
    if (p->dead || !p->connected) return;
    Direction& d = p->dirs[dir];
    int fd = p->ends[1 - dir].fd;
    const int64_t now = NowMs();
    while (!d.chunks.empty() && d.chunks.front().due_ms <= now) {
      Chunk& c = d.chunks.front();
      if (c.eof) {
        if (c.reset) return Kill(p, true);
        ::shutdown(fd, SHUT_WR);
        d.write_done = true;
        d.chunks.pop_front();
        if (p->dirs[0].write_done && p->dirs[1].write_done) return Kill(p, false);
        continue;
      }
      ssize_t n = ::send(fd, c.bytes.data() + c.off, c.bytes.size() - c.off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;  // EPOLLOUT will call again
        return Kill(p, true);
      }
      c.off += static_cast<size_t>(n);
      d.buffered -= static_cast<size_t>(n);
      if (c.off < c.bytes.size()) return;
      d.chunks.pop_front();
    }
  }

  void RunTimers() {
    const int64_t now = NowMs();
    while (!timers_.empty() && timers_.front().due_ms <= now) {
      Timer t = timers_.front();
      timers_.pop_front();
      if (--t.pair->timers == 0 && t.pair->dead) {
        delete t.pair;
        continue;
      }
      if (t.pair->dead) continue;
      Flush(t.pair, t.dir);
      Update(t.pair);
    }
  }

  // Ends the pair: both sockets closed (with a reset when `abort`, so the
  // other side sees the failure it would have seen). Freed once no timer
  // names it.
  void Kill(Pair* p, bool abort) {
    if (p->dead) return;
    p->dead = true;
    for (Endpoint& e : p->ends) {
      if (abort) {
        linger l{1, 0};
        ::setsockopt(e.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
      }
      ::close(e.fd);  // leaves the epoll set with it
      e.fd = -1;
    }
    p->dirs[0].chunks.clear();
    p->dirs[1].chunks.clear();
    // Freed at the end of this loop turn, or by the last timer naming it.
    if (p->timers == 0) dead_.push_back(p);
  }

  int64_t delay_ms_;
  int epfd_ = -1;
  Endpoint signal_{};
  std::vector<Endpoint*> listeners_;
  std::deque<Timer> timers_;
  std::vector<Pair*> dead_;
  bool stop_ = false;
  bool accept_paused_ = false;
  int64_t accept_resume_ms_ = 0;
  uint8_t buf_[kReadChunk];
};

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: originwatch-delay-relay --map FILE --delay-ms D\n"
               "  FILE: one listener per line, \"LISTEN_IP:PORT TARGET_IP:PORT\" (# comments)\n"
               "  Forwards each connection's bytes, half-close and close D ms after they were\n"
               "  read (RTT = 2 x D). Prints \"ready\" once every listener is bound; stops on\n"
               "  SIGTERM or SIGINT.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string map;
  long delay = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      Usage(stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      Usage(stderr);
      return 2;
    }
    if (a == "--map")
      map = argv[++i];
    else if (a == "--delay-ms")
      delay = std::strtol(argv[++i], nullptr, 10);
    else {
      Usage(stderr);
      return 2;
    }
  }
  if (map.empty() || delay < 0) {
    Usage(stderr);
    return 2;
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::ifstream in(map);
  if (!in) {
    std::fprintf(stderr, "originwatch-delay-relay: cannot read %s\n", map.c_str());
    return 2;
  }
  auto* relay = new Relay(delay);  // large (a read buffer inside): not on the stack
  if (!relay->Init()) {
    std::perror("originwatch-delay-relay: init");
    return 1;
  }
  std::string line;
  int listeners = 0, lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string from, to, extra;
    if (!(words >> from)) continue;
    sockaddr_in l{}, t{};
    if (!(words >> to) || (words >> extra) || !ParseAddr(from, &l) || !ParseAddr(to, &t)) {
      std::fprintf(stderr,
                   "originwatch-delay-relay: %s:%d: expected LISTEN_IP:PORT TARGET_IP:PORT\n",
                   map.c_str(), lineno);
      return 2;
    }
    if (!relay->Listen(l, t)) return 1;
    ++listeners;
  }
  if (listeners == 0) {
    std::fprintf(stderr, "originwatch-delay-relay: %s names no listener\n", map.c_str());
    return 2;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  return relay->Run();
}
