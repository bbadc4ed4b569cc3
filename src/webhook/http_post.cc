#include "webhook/http_post.h"

#include <curl/curl.h>

#include <chrono>
#include <cstdlib>
#include <mutex>

#include "originwatch/webhook.h"

namespace originwatch {

void WebhookGlobalInit() {
  static std::once_flag once;
  // Never paired with curl_global_cleanup: the process may still have senders
  // until exit, and cleanup at exit buys nothing.
  std::call_once(once, [] { OW_CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK); });
}

namespace webhook_internal {
namespace {

struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistFree>;

struct Capture {
  std::string body;
  int64_t retry_after_ms = -1;
  int64_t now_ms = 0;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* c = static_cast<Capture*>(user);
  size_t len = size * n;
  if (c->body.size() < kBodyExcerptMax) {
    c->body.append(data, std::min(len, kBodyExcerptMax - c->body.size()));
  }
  return len;  // read and drop the rest
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// Retry-After: delta-seconds or an HTTP-date (RFC 9110 10.2.3). Clamped to a
// day so a hostile value cannot overflow or park the queue for ever.
size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* c = static_cast<Capture*>(user);
  size_t len = size * n;
  std::string_view line(data, len);
  if (line.rfind("HTTP/", 0) == 0) c->retry_after_ms = -1;  // a new response
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    bool match = true;
    for (size_t i = 0; i < kName.size() && match; ++i) {
      match = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
    }
    if (match) {
      std::string v = Trim(line.substr(kName.size()));
      constexpr int64_t kMaxMs = 24LL * 3600 * 1000;
      char* end = nullptr;
      long long secs = std::strtoll(v.c_str(), &end, 10);
      if (!v.empty() && end && *end == '\0') {
        if (secs >= 0) c->retry_after_ms = std::min<int64_t>(secs, kMaxMs / 1000) * 1000;
      } else {
        time_t t = curl_getdate(v.c_str(), nullptr);
        if (t >= 0) {
          c->retry_after_ms =
              std::clamp<int64_t>(static_cast<int64_t>(t) * 1000 - c->now_ms, 0, kMaxMs);
        }
      }
    }
  }
  return len;
}

}  // namespace

Result<std::unique_ptr<HttpClient>> HttpClient::Create() {
  WebhookGlobalInit();
  CURL* h = curl_easy_init();
  if (h == nullptr) return Status::Internal("curl_easy_init failed");
  return std::unique_ptr<HttpClient>(new HttpClient(h));
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

PostResult HttpClient::Post(const PostRequest& req, int64_t now_ms) {
  CURL* h = static_cast<CURL*>(curl_);
  curl_easy_reset(h);  // keeps the connection cache, forgets the options
  PostResult out;
  Capture cap;
  cap.now_ms = now_ms;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* raw = nullptr;
  auto add = [&raw](const std::string& header) {
    curl_slist* next = curl_slist_append(raw, header.c_str());
    if (next != nullptr) raw = next;
  };
  add("Content-Type: application/json");
  if (req.originwatch_headers) add("X-Originwatch-Event: " + req.event_id);
  if (!req.secret.empty() && req.signing == "standard-webhooks") {
    add("webhook-id: " + req.event_id);
    add("webhook-timestamp: " + std::to_string(req.timestamp_s));
    add("webhook-signature: " +
        SignStandardWebhooks(req.secret, req.event_id, req.timestamp_s, req.body));
  } else if (!req.secret.empty()) {
    add("X-Originwatch-Timestamp: " + std::to_string(req.timestamp_s));
    add("X-Originwatch-Signature: " + SignBody(req.secret, req.timestamp_s, req.body));
  }
  for (const std::string& h : req.extra_headers) add(h);
  add("Expect:");  // no 100-continue round trip for bodies above 1 KiB
  SlistPtr headers(raw);

  const long timeout = static_cast<long>(std::max<int64_t>(req.timeout_ms, 1));
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, std::string(kWebhookUserAgent).c_str());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout);
  // Signals cannot be used for DNS timeouts in a threaded process.
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &cap);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &cap);

  const auto t0 = std::chrono::steady_clock::now();
  CURLcode rc = curl_easy_perform(h);
  out.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  out.body_excerpt = std::move(cap.body);
  out.retry_after_ms = cap.retry_after_ms;
  if (rc != CURLE_OK) {
    out.error = errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    if (rc == CURLE_OPERATION_TIMEDOUT) out.error = "timeout: " + out.error;
    return out;
  }
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  out.http_status = static_cast<int>(code);
  if (code < 200 || code > 299) out.error = "HTTP " + std::to_string(code);
  return out;
}

}  // namespace webhook_internal
}  // namespace originwatch
