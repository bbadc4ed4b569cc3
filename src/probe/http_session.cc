#include "probe/http_session.h"

#include <algorithm>

namespace originwatch::probe {

HttpSession::HttpSession(const ProbeSpec& spec, std::unique_ptr<tls::Handshake> tls, uint64_t max_bytes)
    : request_(BuildHttpRequest(*spec.http, HttpHostHeader(spec))),
      tls_(std::move(tls)),
      max_bytes_(max_bytes),
      parser_(spec.http->max_head_bytes, spec.http->max_body_bytes, spec.http->method == "HEAD") {}

bool HttpSession::Start() {
  if (!tls_) {
    output_.assign(request_.begin(), request_.end());
    return true;
  }
  if (!tls_->WriteApp(request_.data(), request_.size())) {
    override_ = HttpOutcome::kError;
    override_text_ = "cannot send the request through TLS: " + tls_->app_error();
    done_ = true;
    return false;
  }
  return true;
}

void HttpSession::TakeOutput(std::vector<uint8_t>* out) {
  out->clear();
  if (tls_) {
    out->resize(tls_->PendingOutput());
    out->resize(tls_->TakeOutput(out->data(), out->size()));
  } else {
    out->swap(output_);
  }
}

void HttpSession::RequestSent(int64_t now_mono) {
  if (sent_mono_ < 0) sent_mono_ = now_mono;
}

void HttpSession::Deliver(const uint8_t* data, size_t n, int64_t now_mono) {
  if (n == 0 || parser_.done()) return;
  if (first_byte_mono_ < 0) first_byte_mono_ = now_mono;
  parser_.Feed(std::string_view(reinterpret_cast<const char*>(data), n));
}

bool HttpSession::OnBytes(const uint8_t* data, size_t n, int64_t now_mono) {
  if (done_) return true;
  bytes_read_ += n;
  if (!tls_) {
    Deliver(data, n, now_mono);
  } else {
    tls_->Feed(data, n);
    uint8_t plain[16 * 1024];
    for (;;) {
      long got = tls_->ReadApp(plain, sizeof(plain));
      if (got > 0) {
        Deliver(plain, static_cast<size_t>(got), now_mono);
        if (parser_.done()) break;
        continue;
      }
      if (got == tls::Handshake::kAppEnd) {
        parser_.FeedEof();
      } else if (got == tls::Handshake::kAppError && parser_.state() == HttpResponseParser::State::kHead) {
        OnFailed(HttpOutcome::kError, "TLS error after the handshake: " + tls_->app_error(), now_mono);
        return true;
      } else if (got == tls::Handshake::kAppError) {
        parser_.FeedEof();  // the head stands; the body ends here
      }
      break;
    }
  }
  if (!parser_.done() && bytes_read_ > max_bytes_) {
    if (parser_.state() == HttpResponseParser::State::kHead) {
      OnFailed(HttpOutcome::kTooLarge,
               "the server sent more than " + std::to_string(max_bytes_) +
                   " bytes without a complete response head",
               now_mono);
      return true;
    }
    parser_.FeedEof();  // enough body: stop at the bound
  }
  if (parser_.done()) Finish(now_mono);
  return done_;
}

bool HttpSession::OnEof(int64_t now_mono) {
  if (done_) return true;
  if (tls_) {
    // What was fed and not yet read (a record and the FIN in one batch).
    tls_->FeedEof();
    uint8_t plain[16 * 1024];
    long got;
    while (!parser_.done() && (got = tls_->ReadApp(plain, sizeof(plain))) > 0) {
      Deliver(plain, static_cast<size_t>(got), now_mono);
    }
  }
  parser_.FeedEof();
  Finish(now_mono);
  return true;
}

void HttpSession::OnTimedOut(int64_t now_mono, int timeout_ms) {
  if (done_) return;
  if (parser_.state() == HttpResponseParser::State::kBody) {
    parser_.FeedEof();  // the head arrived: the body is as much as came in time
    return Finish(now_mono);
  }
  OnFailed(HttpOutcome::kTimeout,
           sent_mono_ < 0 ? "the request could not be sent within the probe's " +
                                std::to_string(timeout_ms) + " ms"
                          : "no complete response head within the probe's " +
                                std::to_string(timeout_ms) + " ms (" +
                                std::to_string(bytes_read_) + " bytes received)",
           now_mono);
}

void HttpSession::OnFailed(HttpOutcome outcome, std::string why, int64_t now_mono) {
  if (done_) return;
  if (parser_.state() == HttpResponseParser::State::kBody) {
    parser_.FeedEof();  // a reset after the head: the head stands
    return Finish(now_mono);
  }
  override_ = outcome;
  override_text_ = std::move(why);
  Finish(now_mono);
}

void HttpSession::Finish(int64_t now_mono) {
  done_ = true;
  end_mono_ = now_mono;
  tls_.reset();  // the SSL of the exchange lives no longer than it
}

void HttpSession::Fill(HttpResult* r) const {
  parser_.Fill(r);
  if (override_ != HttpOutcome::kNotRun) {
    r->outcome = override_;
    r->error_text = override_text_;
  }
  if (sent_mono_ >= 0) {
    r->ttfb_ms = first_byte_mono_ >= 0 ? std::max<int64_t>(first_byte_mono_ - sent_mono_, 0) : -1;
    r->total_ms = end_mono_ >= 0 ? std::max<int64_t>(end_mono_ - sent_mono_, 0) : -1;
  }
}

}  // namespace originwatch::probe
