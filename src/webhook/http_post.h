// One signed webhook POST over libcurl's easy interface, private to
// src/webhook. The caller's thread blocks for at most the timeout.
//
// Ownership: an HttpClient owns one CURL easy handle (curl_easy_cleanup on
// destruction) and is used by one thread at a time; keeping it across posts to
// one endpoint keeps the connection alive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "originwatch/status.h"

namespace originwatch::webhook_internal {

struct PostRequest {
  std::string url;
  std::string body;
  std::string event_id;
  std::string secret;  // "" = unsigned
  // "originwatch" (X-Originwatch-Timestamp/-Signature) or "standard-webhooks"
  // (webhook-id, webhook-timestamp, webhook-signature).
  std::string signing = "originwatch";
  bool originwatch_headers = true;  // X-Originwatch-Event (false for Alertmanager)
  std::vector<std::string> extra_headers;  // "Name: value" (Authorization for Alertmanager)
  int64_t timestamp_s = 0;
  int64_t timeout_ms = 5000;
};

struct PostResult {
  int http_status = 0;  // 0 = no HTTP answer
  std::string error;    // "" on 2xx
  int64_t duration_ms = 0;
  std::string body_excerpt;     // first kBodyExcerptMax bytes of the answer
  int64_t retry_after_ms = -1;  // Retry-After of the answer; -1 = none
};

inline constexpr size_t kBodyExcerptMax = 512;

class HttpClient {
 public:
  // Internal when curl cannot make a handle.
  static Result<std::unique_ptr<HttpClient>> Create();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request once. Never fails as a Status: what happened is data.
  // now_ms is used only to turn an HTTP-date Retry-After into a delay.
  PostResult Post(const PostRequest& request, int64_t now_ms);

 private:
  explicit HttpClient(void* curl) : curl_(curl) {}
  void* curl_;  // CURL*
};

}  // namespace originwatch::webhook_internal
