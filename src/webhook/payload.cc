// Event bodies (JSON and Slack), the HMAC signature and secrets.
#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "originwatch/webhook.h"
#include "webhook/rfc3339.h"
#include "webhook/secret_source.h"

namespace originwatch {
namespace {

using Json = nlohmann::ordered_json;

using webhook_internal::Rfc3339;

Json FactsObject(const std::map<std::string, std::string>& facts) {
  Json o = Json::object();
  for (const auto& [k, v] : facts) o[k] = v;
  return o;
}

// Slack mrkdwn needs &, < and > escaped; everything else is literal.
std::string SlackEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string BuildEventPayload(const EventPayloadInput& e) {
  Json j;
  j["schema"] = kEventSchema;
  j["event_id"] = e.event_id;
  j["kind"] = e.kind;
  j["rule"] = e.rule;
  j["severity"] = e.severity;
  j["origin"] = {{"name", e.origin}, {"tags", e.tags}};
  j["variant"] = e.variant;
  j["address"] = e.address;
  j["finding"] = {{"code", e.finding_code}, {"summary", e.summary}, {"fix", e.fix}};
  j["message"] = e.message;
  j["facts"] = {{"before", FactsObject(e.facts_before)}, {"after", FactsObject(e.facts_after)}};
  j["at"] = Rfc3339(e.at_ms);
  j["alert_opened_at"] = e.alert_opened_ms > 0 ? Json(Rfc3339(e.alert_opened_ms)) : Json(nullptr);
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string BuildSlackPayload(const EventPayloadInput& e) {
  std::string text = "*[" + Upper(e.severity) + "] " + e.kind + "* `" + e.rule + "` on *" +
                     SlackEscape(e.origin) + "*";
  if (!e.variant.empty() || !e.address.empty()) {
    text += " (" + SlackEscape(e.variant);
    if (!e.variant.empty() && !e.address.empty()) text += " ";
    if (!e.address.empty()) text += "@ " + SlackEscape(e.address);
    text += ")";
  }
  if (!e.summary.empty()) text += "\n" + SlackEscape(e.summary);
  if (!e.fix.empty()) text += "\n*Fix:* " + SlackEscape(e.fix);
  text += "\n_" + Rfc3339(e.at_ms) + " · event " + SlackEscape(e.event_id) + "_";
  Json j;
  j["text"] = text;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

EventPayloadInput SampleEvent(int64_t now_ms) {
  EventPayloadInput e;
  e.event_id = "test-" + std::to_string(now_ms);
  e.kind = "test";
  e.rule = "test";
  e.severity = "info";
  e.origin = "originwatch-test";
  e.tags = {"test"};
  e.variant = "sni=originwatch-test.example profile=modern";
  e.address = "192.0.2.10:443";
  e.finding_code = "test";
  e.summary =
      "This is a test event sent by `originwatch webhook test`: the endpoint is reachable and "
      "the signature can be checked.";
  e.fix = "Nothing to fix.";
  e.message = "originwatch-test: test event. " + e.summary;
  e.facts_before = {
      {"outcome", "ok"}, {"version", "TLSv1.3"}, {"cipher", "TLS_AES_128_GCM_SHA256"}};
  e.facts_after = {{"outcome", "ok"}, {"version", "TLSv1.3"}, {"cipher", "TLS_AES_128_GCM_SHA256"}};
  e.at_ms = now_ms;
  e.alert_opened_ms = 0;
  return e;
}

std::string BuildSamplePayload(int64_t now_ms) { return BuildEventPayload(SampleEvent(now_ms)); }

std::string SignBody(std::string_view secret, int64_t timestamp_s, std::string_view body) {
  std::string data = std::to_string(timestamp_s);
  data += '.';
  data.append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  // OpenSSL 3.0 one-shot MAC; the HMAC_CTX functions are deprecated there.
  unsigned char* r = EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(),
                               secret.size(), reinterpret_cast<const unsigned char*>(data.data()),
                               data.size(), mac, sizeof(mac), &mac_len);
  OW_CHECK(r != nullptr && mac_len == 32);
  static const char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (size_t i = 0; i < mac_len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 0xf];
  }
  return out;
}

namespace {

// Standard base64 (RFC 4648 4, padded); nullopt when s is not that.
std::optional<std::string> Base64Decode(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  std::string out(s.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (s.back() == '=') ++pad;
  if (s.size() >= 2 && s[s.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);  // EVP_DecodeBlock counts padding as zero bytes
  return out;
}

std::string Base64Encode(const unsigned char* data, size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
  out.resize(static_cast<size_t>(n));
  return out;
}

constexpr std::string_view kWhsecPrefix = "whsec_";

}  // namespace

std::string SignStandardWebhooks(std::string_view secret, std::string_view id, int64_t timestamp_s,
                                 std::string_view body) {
  std::string key(secret);
  if (secret.starts_with(kWhsecPrefix)) {
    if (auto k = Base64Decode(secret.substr(kWhsecPrefix.size()))) key = std::move(*k);
  }
  std::string data(id);
  data += '.';
  data += std::to_string(timestamp_s);
  data += '.';
  data.append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  unsigned char* r = EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                               reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
                               sizeof(mac), &mac_len);
  OW_CHECK(r != nullptr && mac_len == 32);
  return "v1," + Base64Encode(mac, mac_len);
}

static Result<std::string> ReadRawSecret(const WebhookConfig& w);

Result<std::string> ReadWebhookSecret(const WebhookConfig& w) {
  auto s = ReadRawSecret(w);
  if (!s.ok() || w.signing != "standard-webhooks") return s;
  std::string_view v = s.value();
  if (v.starts_with(kWhsecPrefix) && !Base64Decode(v.substr(kWhsecPrefix.size()))) {
    return Status::InvalidArgument("webhook \"" + w.name +
                                   "\": the secret starts with \"whsec_\" but the rest is not "
                                   "valid base64 (Standard Webhooks secrets are whsec_<base64 key>)");
  }
  return s;
}

static Result<std::string> ReadRawSecret(const WebhookConfig& w) {
  return webhook_internal::ReadSecretSource("webhook \"" + w.name + "\"", w.secret_env, "secret_env",
                                            w.secret_file, "secret_file");
}

}  // namespace originwatch
