// HttpEndpoint (http_endpoint.h): the socket is bound here (so a bind failure
// says why), then handed to libmicrohttpd (MHD_OPTION_LISTEN_SOCKET).
#include "agent/http_endpoint.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/api_json.h"
#include "agent/status_page.h"
#include "originwatch/clock.h"
#include "originwatch/config.h"

namespace originwatch::agent_internal {
namespace {

constexpr size_t kMaxPostBody = 4096;
constexpr auto kReloadWait = std::chrono::seconds(20);
constexpr const char* kHtml = "text/html; charset=utf-8";
constexpr const char* kJson = "application/json";

// Per-request state of a POST: the body bytes seen so far.
struct PostState {
  size_t body = 0;
};

MHD_Result Send(MHD_Connection* c, const HttpEndpoint::Reply& r) {
  MHD_Response* resp =
      MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (resp == nullptr) return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  if (!r.allow.empty()) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r.allow.c_str());
  const MHD_Result ret = MHD_queue_response(c, r.status, resp);
  MHD_destroy_response(resp);
  return ret;
}

void Completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  delete static_cast<PostState*>(*con_cls);
  *con_cls = nullptr;
}

HttpEndpoint::Reply Text(unsigned status, std::string body) {
  HttpEndpoint::Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpEndpoint::Reply JsonError(unsigned status, const std::string& message) {
  HttpEndpoint::Reply r;
  r.status = status;
  r.content_type = kJson;
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) escaped += c;
  }
  r.body = std::string("{\"schema\": \"") + kApiSchema + "\", \"error\": \"" + escaped + "\"}\n";
  return r;
}

bool OriginInEventRow(const std::string& origins, const std::string& name) {
  size_t start = 0;
  while (start <= origins.size()) {
    size_t end = origins.find(',', start);
    if (end == std::string::npos) end = origins.size();
    if (origins.compare(start, end - start, name) == 0) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

HttpEndpoint::HttpEndpoint(EndpointOptions options, EndpointHooks hooks)
    : options_(std::move(options)),
      hooks_(std::move(hooks)),
      per_variant_(options_.metrics_per_variant),
      enable_reload_(options_.enable_reload) {}

HttpEndpoint::~HttpEndpoint() { Stop(); }

void HttpEndpoint::Stop() {
  if (daemon_ != nullptr) {
    MHD_stop_daemon(daemon_);
    daemon_ = nullptr;
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const EndpointOptions& options, EndpointHooks hooks) {
  std::string host, why;
  uint16_t port = 0;
  if (!ParseListenAddress(options.listen, &host, &port, &why)) {
    return Status::InvalidArgument("listen \"" + options.listen + "\": " + why);
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  const bool v6 = host.find(':') != std::string::npos;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
    len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, host.c_str(), &a->sin_addr);
    len = sizeof(sockaddr_in);
  }
  auto fail = [&](int fd, const char* what) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return Status::IoError("cannot listen on " + options.listen + ": " + what + ": " + std::strerror(err));
  };
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(-1, "socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return fail(fd, "bind");
  if (::listen(fd, 64) != 0) return fail(fd, "listen");

  std::unique_ptr<HttpEndpoint> ep(new HttpEndpoint(options, std::move(hooks)));
  ep->listen_fd_ = fd;
  ep->port_ = port;
  auto handler = [](void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                    const char* upload_data, size_t* upload_size, void** con_cls) -> MHD_Result {
    auto* self = static_cast<HttpEndpoint*>(cls);
    const bool post = std::strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (post) {
      // The body is read (and ignored) before answering; bounded.
      if (*con_cls == nullptr) {
        *con_cls = new PostState;
        return MHD_YES;
      }
      auto* st = static_cast<PostState*>(*con_cls);
      if (*upload_size > 0) {
        st->body += *upload_size;
        *upload_size = 0;
        return MHD_YES;
      }
      if (st->body > kMaxPostBody) return Send(c, Text(413, "request body too large\n"));
    }
    (void)upload_data;
    return Send(c, self->Handle(method, url));
  };
  ep->daemon_ = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | (v6 ? MHD_USE_IPv6 : 0), 0, nullptr, nullptr,
      handler, ep.get(), MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, 2u,
      MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 8u, MHD_OPTION_CONNECTION_TIMEOUT,
      10u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, size_t{16 * 1024}, MHD_OPTION_NOTIFY_COMPLETED, &Completed,
      nullptr, MHD_OPTION_END);
  if (ep->daemon_ == nullptr) {
    return Status::Internal("cannot start the HTTP endpoint on " + options.listen + " (libmicrohttpd refused)");
  }
  // From here MHD owns the socket: MHD_stop_daemon closes it (0.9.75 closes
  // a passed listen socket too); closing it again could hit a reused fd.
  ep->listen_fd_ = -1;
  return ep;
}

HttpEndpoint::Reply HttpEndpoint::Handle(const std::string& method, const std::string& path) {
  const bool read = method == "GET" || method == "HEAD";
  const int64_t now = UnixNowMs();
  auto not_allowed = [](const char* allow) {
    Reply r = Text(405, "method not allowed\n");
    r.allow = allow;
    return r;
  };

  if (path == "/-/reload") {
    if (method != "POST") return not_allowed("POST");
    if (!enable_reload_.load()) return Text(403, "reload over HTTP is off ([agent] enable_reload = false)\n");
    if (hooks_.reload == nullptr) return Text(503, "reload unavailable\n");
    std::optional<ReloadOutcome> out = hooks_.reload->Ask(kReloadWait);
    if (!out) return Text(503, "the reload did not finish in time; see the log\n");
    if (out->ok) return Text(200, "reloaded\n");
    std::string body = "reload rejected; the previous configuration keeps running:\n";
    for (const std::string& e : out->errors) body += e + "\n";
    return Text(400, body);
  }
  const bool known = path == "/" || path == "/metrics" || path == "/healthz" || path == "/api/v1/origins" ||
                     path.starts_with("/api/v1/origins/") || path.starts_with("/origin/");
  if (!known) return Text(404, "not found\n");
  if (!read) return not_allowed("GET, HEAD");

  if (path == "/metrics") {
    Reply r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    AgentGauges g = hooks_.gauges ? hooks_.gauges() : AgentGauges{};
    g.probes_by_outcome = hooks_.observatory->ProbeCounts();
    r.body = RenderMetrics(hooks_.observatory->Origins(), g, per_variant_.load());
    return r;
  }
  if (path == "/healthz") {
    const Liveness::Verdict v = hooks_.health ? hooks_.health() : Liveness::Verdict{};
    if (v.ok) return Text(200, "ok\n");
    return Text(503, "stuck: " + v.stuck + "\n");
  }
  if (path == "/api/v1/origins") {
    Reply r;
    r.content_type = kJson;
    r.body = OriginsJson(hooks_.observatory->Origins(), now);
    return r;
  }
  if (path.starts_with("/api/v1/origins/")) {
    const std::string name = path.substr(std::strlen("/api/v1/origins/"));
    auto v = hooks_.observatory->Find(name);
    if (v == nullptr) return JsonError(404, "no origin named \"" + name + "\"");
    Reply r;
    r.content_type = kJson;
    r.body = OriginJson(*v, now);
    return r;
  }
  if (path == "/") {
    Reply r;
    r.content_type = kHtml;
    r.body = RenderStatusPage(hooks_.observatory->Origins(), now);
    return r;
  }
  // /origin/NAME
  const std::string name = path.substr(std::strlen("/origin/"));
  auto v = hooks_.observatory->Find(name);
  Reply r;
  r.content_type = kHtml;
  if (v == nullptr) {
    r.status = 404;
    r.body = RenderNotFoundPage("origin \"" + name + "\"");
    return r;
  }
  std::string note;
  std::optional<QueryResult> history, events;
  if (!options_.db_path.empty() && options_.db_path != ":memory:") {
    auto h = Report(options_.db_path, "origin", name, now);
    if (h.ok()) {
      history = std::move(h).value();
    } else {
      note = "history: " + h.status().message();
    }
    auto e = Report(options_.db_path, "alert_events", "500", now);
    if (e.ok()) {
      QueryResult mine;
      mine.columns = e->columns;
      size_t col = 0;
      while (col < mine.columns.size() && mine.columns[col] != "origin") ++col;
      for (auto& row : e->rows) {
        if (col < row.size() && row[col] && OriginInEventRow(*row[col], name)) mine.rows.push_back(std::move(row));
        if (mine.rows.size() >= 50) break;
      }
      events = std::move(mine);
    } else {
      note += (note.empty() ? "" : "; ") + std::string("alert events: ") + e.status().message();
    }
  }
  r.body = RenderOriginPage(*v, history ? &*history : nullptr, events ? &*events : nullptr, note, now);
  return r;
}

}  // namespace originwatch::agent_internal
