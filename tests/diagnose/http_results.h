// Hand-made ProbeResult values with an HTTP exchange (probe.h HttpResult), for
// the tests of the diagnosis, the alert rules and the evaluator. Pure values.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "originwatch/probe.h"
#include "support/results.h"

namespace originwatch::testing {

inline constexpr int64_t kHttpNowS = 1'800'000'000;

// A plain http:// probe of `host` at `address`:80 for `origin`, path `path`.
inline ProbeSpec PlainHttpSpec(std::string origin, std::string host, std::string address,
                               std::string path = "/") {
  ProbeSpec s;
  s.origin = std::move(origin);
  s.host = std::move(host);
  s.address = std::move(address);
  s.port = 80;
  s.sni = std::nullopt;
  HttpCheck c;
  c.plain = true;
  c.path = std::move(path);
  s.http = c;
  return s;
}

// A TCP connect that worked, then the HTTP answer `status` with Server `server`.
inline ProbeResult PlainAnswer(const ProbeSpec& spec, int64_t started_at_ms, int status,
                               std::string reason, std::string server = "nginx/1.22.1") {
  ProbeResult r;
  r.spec = spec;
  r.started_at_ms = started_at_ms;
  r.connect_ms = 1;
  r.total_ms = 3;
  r.outcome = Outcome::kOk;
  r.http.outcome = HttpOutcome::kOk;
  r.http.status = status;
  r.http.reason = std::move(reason);
  r.http.server = std::move(server);
  r.http.ttfb_ms = 2;
  r.http.total_ms = 2;
  return r;
}

// A plain probe whose HTTP exchange ended with `outcome` (not kOk).
inline ProbeResult PlainFailure(const ProbeSpec& spec, int64_t started_at_ms, HttpOutcome outcome,
                                std::string error_text) {
  ProbeResult r = PlainAnswer(spec, started_at_ms, 0, "", "");
  r.http.outcome = outcome;
  r.http.ttfb_ms = -1;
  r.http.error_text = std::move(error_text);
  return r;
}

// An HTTPS variant (SNI = host) whose handshake worked and whose request got `status`.
inline ProbeResult TlsAnswer(std::string origin, std::string host, int status, std::string reason,
                             int64_t started_at_ms = kHttpNowS * 1000) {
  ProbeSpec spec = TestSpec(std::move(origin), host, "192.0.2.10", host);
  spec.http = HttpCheck{};
  ProbeResult r = WithNamesCovered(OkResult(
      spec, started_at_ms, {TestLeaf(host, {host}, kHttpNowS, 60), TestIntermediate(kHttpNowS)}));
  r.http.outcome = HttpOutcome::kOk;
  r.http.status = status;
  r.http.reason = std::move(reason);
  r.http.server = "nginx";
  r.http.via = "1.1 varnish";
  return r;
}

}  // namespace originwatch::testing
