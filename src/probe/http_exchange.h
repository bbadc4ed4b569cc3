// The HTTP/1.1 side of a probe: the request bytes, and an incremental parser
// of the response that reads its head whole (bounded) and at most a bounded
// number of body bytes. Pure: no socket, no clock, no OpenSSL; the engine
// feeds it the plaintext that arrived (after TLS, or straight from TCP).
//
// States: kHead --head complete--> kBody --body end / bound--> kDone
//         kHead --EOF, garbage, too big--> kFailed
// kDone and kFailed are final; Feed after them consumes nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "originwatch/probe.h"

namespace originwatch::probe {

// The Host header for a check: check.host, else spec.host (brackets for an
// IPv6 literal, ":port" unless the port is the scheme's default).
std::string HttpHostHeader(const ProbeSpec& spec);

// "METHOD PATH HTTP/1.1\r\nHost: ...\r\nUser-Agent: originwatch\r\n
//  Accept: */*\r\nConnection: close\r\n\r\n".
std::string BuildHttpRequest(const HttpCheck& check, const std::string& host_header);

class HttpResponseParser {
 public:
  enum class State { kHead, kBody, kDone, kFailed };

  // head_request: the request was HEAD (the answer has no body).
  HttpResponseParser(size_t max_head_bytes, size_t max_body_bytes, bool head_request);

  // Consumes the next bytes of the answer; returns the state after them.
  State Feed(std::string_view input);
  // The peer closed (or reset) the connection.
  State FeedEof();

  State state() const { return state_; }
  bool done() const { return state_ == State::kDone || state_ == State::kFailed; }
  // Copies what was read into r: outcome (kOk once the head is complete, else
  // the failure), status, reason, recorded headers, body bytes, error text and,
  // for kNotHttp, the first bytes. Leaves the times alone.
  void Fill(HttpResult* r) const;

  int status() const { return status_; }
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum class Body { kNone, kLength, kChunked, kUntilClose };
  enum class Chunk { kSize, kData, kDataEnd };

  void Fail(HttpOutcome o, std::string why);
  bool CheckPrefix();               // false once the start cannot be "HTTP/1.x NNN"
  bool ParseHead(size_t head_len);  // the status line and headers in head_[0, head_len)
  void HeaderLine(std::string_view line);
  void ConsumeBody(std::string_view bytes);
  void ConsumeChunked(std::string_view bytes);
  void AddBody(size_t n);

  size_t max_head_;
  size_t max_body_;
  bool head_request_;
  State state_ = State::kHead;
  std::string head_;         // the head read so far (at most max_head_ bytes)
  size_t head_total_ = 0;    // bytes of heads read, interim (1xx) ones included
  std::string first_bytes_;  // the first bytes of the answer (at most 64)
  HttpOutcome fail_ = HttpOutcome::kOk;
  std::string error_;

  int status_ = 0;
  std::string reason_, server_, via_, x_cache_, location_;
  Body body_ = Body::kUntilClose;
  uint64_t content_length_ = 0;
  bool chunked_ = false;
  bool have_length_ = false;
  Chunk chunk_ = Chunk::kSize;
  std::string chunk_line_;
  uint64_t chunk_left_ = 0;
  uint64_t body_bytes_ = 0;
};

}  // namespace originwatch::probe
