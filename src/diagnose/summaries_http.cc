// The HTTP findings (diagnose.h): which variant's HTTP answer gives which
// code, and their summaries and fixes. A variant whose handshake failed made
// no request, so the TLS findings keep precedence by construction.
//
// HttpOutcome -> finding: kOk with an unexpected status -> bad_gateway (502),
// gateway_timeout (504), http_error (other 5xx), unexpected_status (anything
// else); kTimeout -> http_timeout; kNotHttp, kClosed, kTooLarge and kError ->
// not_http: in each the server gave no usable HTTP/1.x response head (a
// closed connection or an endless head is no more an answer than a banner of
// another protocol), and the summary says which of the four it was.
#include <string>
#include <string_view>
#include <vector>

#include "diagnose/diagnoser.h"

namespace originwatch {

bool IsHttpFinding(std::string_view code) {
  return code == finding::kBadGateway || code == finding::kGatewayTimeout ||
         code == finding::kHttpError || code == finding::kUnexpectedStatus ||
         code == finding::kHttpTimeout || code == finding::kNotHttp;
}

std::string_view HttpFindingOf(const ProbeResult& r) {
  if (!r.ok() || !r.spec.http) return "";
  const HttpResult& h = r.http;
  switch (h.outcome) {
    case HttpOutcome::kNotRun:
      return "";
    case HttpOutcome::kOk:
      if (r.spec.http->Expected(h.status)) return "";
      if (h.status == 502) return finding::kBadGateway;
      if (h.status == 504) return finding::kGatewayTimeout;
      if (h.status >= 500 && h.status <= 599) return finding::kHttpError;
      return finding::kUnexpectedStatus;
    case HttpOutcome::kTimeout:
      return finding::kHttpTimeout;
    case HttpOutcome::kNotHttp:
    case HttpOutcome::kClosed:
    case HttpOutcome::kTooLarge:
    case HttpOutcome::kError:
      return finding::kNotHttp;
  }
  return finding::kNotHttp;
}

std::string DescribeHttp(const ProbeResult& r) {
  const HttpResult& h = r.http;
  std::string out;
  switch (h.outcome) {
    case HttpOutcome::kNotRun:
      return "";
    case HttpOutcome::kOk:
      out = std::to_string(h.status);
      if (!h.reason.empty()) out += " " + h.reason;
      break;
    case HttpOutcome::kTimeout:
      out = "no response head in time";
      break;
    case HttpOutcome::kNotHttp:
      out = "an answer that is not HTTP";
      if (!h.first_bytes.empty())
        out +=
            " (" + diagnose_internal::Quote(diagnose_internal::Truncate(h.first_bytes, 60)) + ")";
      break;
    case HttpOutcome::kClosed:
      out = "the connection closed before a complete response head";
      break;
    case HttpOutcome::kTooLarge:
      out = "a response head over the size limit";
      break;
    case HttpOutcome::kError:
      out = "no answer";
      break;
  }
  if (h.outcome != HttpOutcome::kOk && !h.error_text.empty()) {
    out += ": " + diagnose_internal::Truncate(h.error_text, 120);
  }
  std::vector<std::string> headers;
  if (!h.server.empty()) headers.push_back("Server: " + h.server);
  if (!h.via.empty()) headers.push_back("Via: " + h.via);
  if (!h.x_cache.empty()) headers.push_back("X-Cache: " + h.x_cache);
  if (!h.location.empty()) headers.push_back("Location: " + h.location);
  if (!headers.empty()) out += " (" + diagnose_internal::Join(headers, "; ") + ")";
  return out;
}

std::string HttpTarget(const ProbeResult& r) {
  if (!r.spec.http) return "";
  const std::string host = r.spec.http->host.empty() ? r.spec.host : r.spec.http->host;
  const std::string& path = r.spec.http->path;
  return host + (path == "/" ? std::string() : path);
}

namespace diagnose_internal {

void Diagnoser::CheckHttp() {
  for (size_t i = 0; i < r_.size(); ++i) {
    const std::string_view code = HttpFindingOf(r_[i]);
    if (!code.empty()) Add(code, i);
  }
}

std::string Diagnoser::HttpHealthyText(const std::vector<size_t>& done) const {
  std::vector<std::string> answers;
  for (size_t i : done) {
    if (r_[i].http.outcome == HttpOutcome::kNotRun) continue;
    AddUnique(answers, HttpTarget(r_[i]) + " answers " + DescribeHttp(r_[i]));
  }
  return Join(answers, "; ");
}

void Diagnoser::BuildHttp(std::string_view code, const std::vector<Item>& items, Finding& f) const {
  const ProbeResult& r = r_[items.front().idx];
  const HttpCheck& c = *r.spec.http;
  const std::string target = HttpTarget(r);
  const std::string request = c.method + " " + (c.plain ? "http://" : "https://") +
                              (c.host.empty() ? r.spec.host : c.host) + c.path;
  const std::string how =
      c.plain ? " in plain HTTP" : " over TLS (" + Label(items.front().idx) + ")";
  const std::string what = DescribeHttp(r);
  const std::string where = WhereClause(items);
  const std::string ap = AddrPort(items.front().idx);
  const std::string curl = "curl -sv " + std::string(c.plain ? "" : "-k ") + "--resolve " +
                           (c.host.empty() ? r.spec.host : c.host) + ":" +
                           std::to_string(r.spec.port) + ":" + r.spec.address + " " +
                           (c.plain ? "http://" : "https://") +
                           (c.host.empty() ? r.spec.host : c.host) + c.path;
  f.summary = target + " answers " + what + " to " + request + how + where + ": ";
  if (code == finding::kBadGateway) {
    f.summary +=
        "the proxy in front got no valid answer from its upstream (it could not connect, "
        "or the upstream's TLS handshake or response failed).";
    f.fix =
        "Read the proxy's error log for the upstream failure (nginx logs it as \"upstream\" "
        "with the SSL error), and name the upstream origin with upstream = \"NAME\" so "
        "originwatch says why. Reproduce with: " +
        curl;
  } else if (code == finding::kGatewayTimeout) {
    f.summary += "the proxy in front waited for its upstream and gave up.";
    f.fix =
        "Check that the upstream answers in time (nginx: proxy_connect_timeout, "
        "proxy_read_timeout) and name it with upstream = \"NAME\" so originwatch says why. "
        "Reproduce with: " +
        curl;
  } else if (code == finding::kHttpError) {
    f.summary += "the server (or the application behind it) fails the request.";
    f.fix = "Read the server's and the application's error logs. Reproduce with: " + curl;
  } else if (code == finding::kUnexpectedStatus) {
    f.summary += "the status is not one the check expects" +
                 std::string(c.expect_status.empty() ? " (200-399)" : "") + ".";
    f.fix =
        "Fix the path or the server, or list the status in http.expect_status if it is "
        "right. Reproduce with: " +
        curl;
  } else if (code == finding::kHttpTimeout) {
    f.summary +=
        "the connection works but the server sends no response head before the "
        "probe's deadline.";
    f.fix =
        "Look at what the server does with the request (a stuck application, a proxy "
        "waiting for its upstream); raise the origin's timeout only if it is just slow. "
        "Reproduce with: " +
        curl;
  } else {
    f.summary += "the server gave no usable HTTP/1.x response head" +
                 std::string(c.plain ? "" : "; is this port HTTP/1.1 behind TLS at all?") + ".";
    f.fix = "Check what listens on " + ap +
            " (another protocol, an h2-only server, a "
            "misbehaving proxy). Reproduce with: " +
            curl;
  }
}

}  // namespace diagnose_internal
}  // namespace originwatch
