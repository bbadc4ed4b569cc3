#include "probe/http_exchange.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace originwatch::probe {
namespace {

constexpr size_t kFirstBytes = 64;
constexpr size_t kReasonMax = 128;
constexpr size_t kHeaderValueMax = 256;
constexpr size_t kChunkLineMax = 1024;

// Printable ASCII kept, anything else as \xNN; at most cap bytes of output.
std::string Printable(std::string_view bytes, size_t cap) {
  std::string out;
  for (unsigned char ch : bytes) {
    if (out.size() >= cap) break;
    if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch >= 0x20 && ch < 0x7f) {
      out.push_back(static_cast<char>(ch));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      out += buf;
    }
  }
  if (out.size() > cap) out.resize(cap);
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The end of the head (just after its blank line) in s, searching from `from`;
// bare "\n" line ends are accepted. npos when not there yet.
size_t HeadEnd(const std::string& s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    if (s[i] != '\n') continue;
    if (i + 1 < s.size() && s[i + 1] == '\n') return i + 2;
    if (i + 2 < s.size() && s[i + 1] == '\r' && s[i + 2] == '\n') return i + 3;
  }
  return std::string::npos;
}

}  // namespace

std::string HttpHostHeader(const ProbeSpec& spec) {
  if (spec.http && !spec.http->host.empty()) return spec.http->host;
  std::string h = spec.host.empty() ? spec.address : spec.host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  const bool plain = spec.http && spec.http->plain;
  if (spec.port != (plain ? 80 : 443)) h += ":" + std::to_string(spec.port);
  return h;
}

std::string BuildHttpRequest(const HttpCheck& check, const std::string& host_header) {
  std::string req;
  req.reserve(128 + check.path.size() + host_header.size());
  req += check.method.empty() ? "GET" : check.method;
  req += ' ';
  req += check.path.empty() ? "/" : check.path;
  req += " HTTP/1.1\r\nHost: ";
  req += host_header;
  req += "\r\nUser-Agent: originwatch\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  return req;
}

HttpResponseParser::HttpResponseParser(size_t max_head_bytes, size_t max_body_bytes,
                                       bool head_request)
    : max_head_(max_head_bytes), max_body_(max_body_bytes), head_request_(head_request) {}

void HttpResponseParser::Fail(HttpOutcome o, std::string why) {
  state_ = State::kFailed;
  fail_ = o;
  error_ = std::move(why);
  std::string().swap(head_);
}

bool HttpResponseParser::CheckPrefix() {
  static constexpr std::string_view kPrefix = "HTTP/1.";
  for (size_t i = 0; i < head_.size() && i < 13; ++i) {
    char c = head_[i];
    bool ok = i < 7 ? c == kPrefix[i]
              : i == 7 ? IsDigit(c)
              : i == 8 ? c == ' '
              : i < 12 ? IsDigit(c)
                       : (c == ' ' || c == '\r' || c == '\n');
    if (!ok) return false;
  }
  return true;
}

HttpResponseParser::State HttpResponseParser::Feed(std::string_view input) {
  std::string carry;  // the bytes after a head, when they were read with it
  std::string_view bytes = input;
  while (!bytes.empty() && (state_ == State::kHead || state_ == State::kBody)) {
    if (state_ == State::kBody) {
      ConsumeBody(bytes);
      return state_;
    }
    if (first_bytes_.size() < kFirstBytes && head_total_ == 0) {
      first_bytes_.append(bytes.substr(0, kFirstBytes - first_bytes_.size()));
    }
    const size_t used = head_total_ + head_.size();
    const size_t take = std::min(max_head_ > used ? max_head_ - used : 0, bytes.size());
    const size_t old = head_.size();
    head_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (!CheckPrefix()) {
      Fail(HttpOutcome::kNotHttp, "the answer does not start with \"HTTP/1.x NNN\"");
      return state_;
    }
    size_t end = HeadEnd(head_, old >= 2 ? old - 2 : 0);
    if (end == std::string::npos) {
      if (head_total_ + head_.size() >= max_head_) {
        Fail(HttpOutcome::kTooLarge,
             "the response head is longer than " + std::to_string(max_head_) + " bytes");
        return state_;
      }
      continue;  // every byte was taken: wait for more
    }
    // Bytes after the head were read with it: they are the body, or the next
    // head after an interim (1xx) one.
    std::string more = head_.substr(end);
    more.append(bytes.data(), bytes.size());
    head_.resize(end);
    carry.swap(more);
    bytes = carry;
    ParseHead(end);
  }
  return state_;
}

// Returns false for an interim 1xx head (then the parser waits for the next
// head), true when the final head was read.
bool HttpResponseParser::ParseHead(size_t head_len) {
  std::string_view head(head_.data(), head_len);
  size_t eol = head.find('\n');
  std::string_view status_line = Trim(head.substr(0, eol));
  status_ = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  if (status_ >= 100 && status_ < 200 && status_ != 101) {
    head_total_ += head_len;
    head_.erase(0, head_len);
    status_ = 0;
    return false;
  }
  reason_ = Printable(status_line.size() > 13 ? status_line.substr(13) : std::string_view(), kReasonMax);
  size_t pos = eol + 1;
  while (pos < head.size()) {
    size_t next = head.find('\n', pos);
    if (next == std::string_view::npos) next = head.size();
    HeaderLine(head.substr(pos, next - pos));
    pos = next + 1;
  }
  std::string().swap(head_);
  if (head_request_ || status_ == 101 || status_ == 204 || status_ == 304) {
    body_ = Body::kNone;
  } else if (chunked_) {
    body_ = Body::kChunked;
  } else if (have_length_) {
    body_ = Body::kLength;
  } else {
    body_ = Body::kUntilClose;
  }
  const bool empty = body_ == Body::kNone || (body_ == Body::kLength && content_length_ == 0) ||
                     max_body_ == 0;
  state_ = empty ? State::kDone : State::kBody;
  return true;
}

void HttpResponseParser::HeaderLine(std::string_view line) {
  if (line.empty() || line.front() == ' ' || line.front() == '\t') return;  // folded: ignored
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return;
  std::string_view name = Trim(line.substr(0, colon));
  std::string_view value = Trim(line.substr(colon + 1));
  if (IEquals(name, "Server")) {
    server_ = Printable(value, kHeaderValueMax);
  } else if (IEquals(name, "Via")) {
    via_ = Printable(value, kHeaderValueMax);
  } else if (IEquals(name, "X-Cache")) {
    x_cache_ = Printable(value, kHeaderValueMax);
  } else if (IEquals(name, "Location")) {
    location_ = Printable(value, kHeaderValueMax);
  } else if (IEquals(name, "Content-Length")) {
    uint64_t n = 0;
    bool ok = !value.empty() && value.size() <= 18;
    for (char c : value) {
      if (!IsDigit(c)) ok = false;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (ok) {
      have_length_ = true;
      content_length_ = n;
    }
  } else if (IEquals(name, "Transfer-Encoding")) {
    size_t comma = value.rfind(',');
    std::string_view last = Trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
    chunked_ = IEquals(last, "chunked");
  }
}

void HttpResponseParser::AddBody(size_t n) {
  body_bytes_ += n;
  if (body_bytes_ >= max_body_) state_ = State::kDone;
}

void HttpResponseParser::ConsumeBody(std::string_view bytes) {
  const uint64_t room = max_body_ - body_bytes_;
  switch (body_) {
    case Body::kNone:
      state_ = State::kDone;
      return;
    case Body::kLength: {
      uint64_t left = content_length_ - body_bytes_;
      uint64_t take = std::min<uint64_t>({bytes.size(), left, room});
      AddBody(take);
      if (body_bytes_ >= content_length_) state_ = State::kDone;
      return;
    }
    case Body::kUntilClose:
      AddBody(std::min<uint64_t>(bytes.size(), room));
      return;
    case Body::kChunked:
      ConsumeChunked(bytes);
      return;
  }
}

void HttpResponseParser::ConsumeChunked(std::string_view bytes) {
  while (!bytes.empty() && state_ == State::kBody) {
    if (chunk_ == Chunk::kData) {
      uint64_t take = std::min<uint64_t>(bytes.size(), chunk_left_);
      AddBody(std::min<uint64_t>(take, max_body_ - std::min<uint64_t>(body_bytes_, max_body_)));
      chunk_left_ -= take;
      bytes.remove_prefix(take);
      if (chunk_left_ == 0) chunk_ = Chunk::kDataEnd;
      continue;
    }
    // kSize or kDataEnd: a line ("1a;ext\r\n", or the "\r\n" after data).
    size_t nl = bytes.find('\n');
    size_t take = nl == std::string_view::npos ? bytes.size() : nl + 1;
    chunk_line_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (chunk_line_.size() > kChunkLineMax) {
      state_ = State::kDone;  // a malformed body: the head stands, reading stops
      return;
    }
    if (nl == std::string_view::npos) return;
    std::string line;
    line.swap(chunk_line_);
    if (chunk_ == Chunk::kDataEnd) {
      chunk_ = Chunk::kSize;
      continue;
    }
    uint64_t size = 0;
    size_t digits = 0;
    for (char c : line) {
      int v = IsDigit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (v < 0) break;
      if (++digits > 15) break;
      size = size * 16 + static_cast<uint64_t>(v);
    }
    if (digits == 0 || digits > 15 || size == 0) {
      state_ = State::kDone;  // the last chunk (trailers are not read), or a malformed size
      return;
    }
    chunk_left_ = size;
    chunk_ = Chunk::kData;
  }
}

HttpResponseParser::State HttpResponseParser::FeedEof() {
  if (state_ == State::kBody) {
    state_ = State::kDone;
  } else if (state_ == State::kHead) {
    size_t got = head_total_ + head_.size();
    Fail(HttpOutcome::kClosed,
         got == 0 ? "the server closed the connection without answering"
                  : "the server closed the connection after " + std::to_string(got) +
                        " bytes, before a complete response head");
  }
  return state_;
}

void HttpResponseParser::Fill(HttpResult* r) const {
  if (state_ == State::kFailed) {
    r->outcome = fail_;
    r->error_text = error_;
    if (fail_ == HttpOutcome::kNotHttp) r->first_bytes = Printable(first_bytes_, 4 * kFirstBytes);
  } else if (state_ != State::kHead) {
    r->outcome = HttpOutcome::kOk;
    r->error_text.clear();
  }
  r->status = state_ == State::kHead || state_ == State::kFailed ? 0 : status_;
  r->reason = reason_;
  r->server = server_;
  r->via = via_;
  r->x_cache = x_cache_;
  r->location = location_;
  r->body_bytes = body_bytes_;
}

}  // namespace originwatch::probe
