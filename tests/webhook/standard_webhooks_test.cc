// Proves that a webhook with signing = "standard-webhooks" sends webhook-id,
// webhook-timestamp and webhook-signature that an independent verifier (a
// Python 3 script using only hmac, hashlib and base64, written from the
// Standard Webhooks specification) accepts for a real delivery received over
// HTTP, and rejects with another secret or a changed body; and that the
// Alertmanager alerts built from an event carry the documented labels.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "originwatch/webhook.h"
#include "webhook/http_receiver.h"

namespace originwatch::testing {
namespace {

// The verifier: argv = secret headers_file body_file; exit 0 when the
// signature verifies, 1 when it does not, 2 on bad input.
constexpr char kVerifier[] = R"PY(
import base64, hashlib, hmac, sys
secret, headers_file, body_file = sys.argv[1], sys.argv[2], sys.argv[3]
headers = {}
with open(headers_file, encoding="utf-8") as f:
    for line in f:
        name, _, value = line.rstrip("\n").partition(": ")
        headers[name.lower()] = value
with open(body_file, "rb") as f:
    body = f.read()
try:
    msg_id = headers["webhook-id"]
    ts = headers["webhook-timestamp"]
    sigs = headers["webhook-signature"].split(" ")
except KeyError as e:
    print("missing header", e)
    sys.exit(2)
if not ts.isdigit():
    sys.exit(2)
key = base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else secret.encode()
signed = msg_id.encode() + b"." + ts.encode() + b"." + body
expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
for s in sigs:
    version, _, value = s.partition(",")
    if version == "v1" and hmac.compare_digest(value, expected):
        print("verified", msg_id)
        sys.exit(0)
print("signature mismatch")
sys.exit(1)
)PY";

class StandardWebhooksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ow-stdwh-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);  // a fresh directory per test
    dir_ = tmpl;
    ASSERT_TRUE(receiver_.Start(0).ok());
    { std::ofstream(dir_ / "verify.py") << kVerifier; }
  }
  void TearDown() override {
    receiver_.Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Runs the verifier on the request; its exit code (-1 when python3 is missing).
  int Verify(const HttpRequest& r, const std::string& secret, const std::string& body) {
    {
      std::ofstream h(dir_ / "headers");
      for (const auto& [k, v] : r.headers) h << k << ": " << v << "\n";
      std::ofstream(dir_ / "body", std::ios::binary) << body;
    }
    const std::string cmd = "python3 " + (dir_ / "verify.py").string() + " '" + secret + "' " +
                            (dir_ / "headers").string() + " " + (dir_ / "body").string() + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return -1;
    char buf[256];
    while (fgets(buf, sizeof(buf), p) != nullptr) std::printf("verifier: %s", buf);
    int status = pclose(p);
    if (!WIFEXITED(status)) return -1;
    return WEXITSTATUS(status) == 127 ? -1 : WEXITSTATUS(status);
  }

  WebhookConfig Hook(const std::string& secret_file) {
    WebhookConfig w;
    w.name = "std";
    w.url = receiver_.Url();
    w.secret_file = secret_file;
    w.signing = "standard-webhooks";
    w.timeout_ms = 3000;
    return w;
  }

  std::filesystem::path dir_;
  HttpReceiver receiver_;
};

TEST_F(StandardWebhooksTest, WhsecSecretDeliveryVerifiesWithAnIndependentVerifier) {
  // A whsec_ secret: base64 of the key bytes, as the specification serializes it.
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  { std::ofstream(dir_ / "secret") << secret << "\n"; }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto sent = SendTestEvent(Hook((dir_ / "secret").string()), now);
  ASSERT_TRUE(sent.ok()) << sent.status().message();
  ASSERT_EQ(sent->http_status, 200) << sent->error;
  ASSERT_EQ(receiver_.request_count(), 1u);
  const HttpRequest r = receiver_.requests()[0];
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(r.Header("webhook-id"), body["event_id"].get<std::string>());
  EXPECT_EQ(r.Header("webhook-timestamp"), std::to_string(now / 1000));
  EXPECT_EQ(r.Header("webhook-signature").rfind("v1,", 0), 0u);
  EXPECT_FALSE(r.HasHeader("X-Originwatch-Signature"));
  std::printf("webhook-id: %s\nwebhook-timestamp: %s\nwebhook-signature: %s\n",
              r.Header("webhook-id").c_str(), r.Header("webhook-timestamp").c_str(),
              r.Header("webhook-signature").c_str());

  const int ok = Verify(r, secret, r.body);
  if (ok == -1) GTEST_FAIL() << "python3 is needed for the independent verifier";
  EXPECT_EQ(ok, 0);
  EXPECT_EQ(Verify(r, "whsec_" + std::string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), r.body), 1);
  std::string tampered = r.body;
  tampered[tampered.size() / 2] ^= 1;
  EXPECT_EQ(Verify(r, secret, tampered), 1);
}

TEST_F(StandardWebhooksTest, PlainSecretIsUsedAsTheKeyBytes) {
  const std::string secret = "plain-secret-not-whsec";
  { std::ofstream(dir_ / "secret") << secret; }
  auto sent = SendTestEvent(Hook((dir_ / "secret").string()), 1700000000123);
  ASSERT_TRUE(sent.ok()) << sent.status().message();
  ASSERT_EQ(receiver_.request_count(), 1u);
  const HttpRequest r = receiver_.requests()[0];
  EXPECT_EQ(r.Header("webhook-timestamp"), "1700000000");
  const int ok = Verify(r, secret, r.body);
  if (ok == -1) GTEST_FAIL() << "python3 is needed for the independent verifier";
  EXPECT_EQ(ok, 0);
}

TEST_F(StandardWebhooksTest, WhsecSecretThatIsNotBase64IsRefused) {
  { std::ofstream(dir_ / "secret") << "whsec_not*base64!"; }
  auto sent = SendTestEvent(Hook((dir_ / "secret").string()), 1700000000000);
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.status().message().find("not valid base64"), std::string::npos);
  EXPECT_EQ(receiver_.request_count(), 0u);
}

TEST(StandardWebhooksSignature, MatchesTheSpecificationExample) {
  // The example of the Standard Webhooks specification (and its reference
  // libraries' tests): this id, timestamp, body and secret give this signature.
  EXPECT_EQ(SignStandardWebhooks("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                 "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                                 R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(AlertmanagerPayload, LabelsNameTheAlertNotTheAgent) {
  EventPayloadInput e;
  e.kind = "firing";
  e.rule = "sni_changed";
  e.severity = "critical";
  e.origin = "promo";
  e.tags = {"cdn", "prod"};
  e.variant = "no-sni profile=modern";
  e.address = "127.0.0.1:8443";
  e.finding_code = "sni_required";
  e.summary = "Works with SNI, fails without.";
  e.fix = "proxy_ssl_server_name on;";
  e.at_ms = 1700000001000;
  e.alert_opened_ms = 1700000000000;
  AlertmanagerAlert a = AlertmanagerAlertOf(e);
  const std::map<std::string, std::string> labels = {
      {"alertname", "sni_changed"}, {"origin", "promo"},     {"address", "127.0.0.1:8443"},
      {"sni", "none"},              {"profile", "modern"},   {"severity", "critical"},
      {"tags", ",cdn,prod,"}};
  EXPECT_EQ(a.labels, labels);
  EXPECT_EQ(a.annotations.at("finding"), "sni_required");
  EXPECT_EQ(a.annotations.at("fix"), "proxy_ssl_server_name on;");
  EXPECT_EQ(a.starts_ms, 1700000000000);

  e.variant = "sni=www.example.com profile=legacy";
  a = AlertmanagerAlertOf(e);
  EXPECT_EQ(a.labels.at("sni"), "www.example.com");
  EXPECT_EQ(a.labels.at("profile"), "legacy");

  a.ends_ms = 1700000240000;
  const auto body = nlohmann::json::parse(BuildAlertmanagerBody({a}));
  ASSERT_TRUE(body.is_array());
  EXPECT_EQ(body[0]["startsAt"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(body[0]["endsAt"], "2023-11-14T22:17:20.000Z");
  EXPECT_EQ(body[0]["labels"]["alertname"], "sni_changed");
}

}  // namespace
}  // namespace originwatch::testing
