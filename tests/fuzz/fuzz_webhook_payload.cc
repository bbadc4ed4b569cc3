// Fuzzes the webhook bodies: BuildEventPayload and BuildSlackPayload with every
// field cut from the input must give JSON that parses, whatever the bytes
// (invalid UTF-8 included), with the fields where docs/webhooks.md puts them.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "originwatch/webhook.h"

namespace {

// Hands out the input as fields separated by '\x1f' (ASCII unit separator),
// and integers as raw 8-byte little-endian words.
class Cutter {
 public:
  Cutter(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}
  std::string Field() {
    size_t end = rest_.find('\x1f');
    std::string out(rest_.substr(0, end));
    rest_.remove_prefix(end == std::string_view::npos ? rest_.size() : end + 1);
    return out;
  }
  int64_t Int() {
    uint64_t v = 0;
    size_t n = std::min<size_t>(8, rest_.size());
    std::memcpy(&v, rest_.data(), n);
    rest_.remove_prefix(n);
    return static_cast<int64_t>(v);
  }
  bool empty() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

bool IsValidUtf8(std::string_view s) {
  nlohmann::json j = s;  // dump throws type_error 316 on invalid UTF-8
  try {
    (void)j.dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Cutter in(data, size);
  originwatch::EventPayloadInput e;
  e.at_ms = in.Int();
  e.alert_opened_ms = in.Int();
  e.event_id = in.Field();
  e.kind = in.Field();
  e.rule = in.Field();
  e.severity = in.Field();
  e.origin = in.Field();
  e.variant = in.Field();
  e.address = in.Field();
  e.finding_code = in.Field();
  e.summary = in.Field();
  e.fix = in.Field();
  e.message = in.Field();
  for (int i = 0; i < 4 && !in.empty(); ++i) e.tags.push_back(in.Field());
  for (int i = 0; i < 4 && !in.empty(); ++i) {
    std::string key = in.Field();
    e.facts_before[key] = in.Field();
    key = in.Field();
    e.facts_after[key] = in.Field();
  }

  std::string body = originwatch::BuildEventPayload(e);
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!j.is_discarded());
  FUZZ_CHECK(j.is_object());
  FUZZ_CHECK(j["schema"] == originwatch::kEventSchema);
  FUZZ_CHECK(j["at"].is_string());
  FUZZ_CHECK(j["alert_opened_at"].is_null() == (e.alert_opened_ms <= 0));
  FUZZ_CHECK(j["origin"]["tags"].size() == e.tags.size());
  // Valid UTF-8 passes through unchanged; invalid bytes become U+FFFD.
  if (IsValidUtf8(e.origin)) FUZZ_CHECK(j["origin"]["name"] == e.origin);
  if (IsValidUtf8(e.message)) FUZZ_CHECK(j["message"] == e.message);

  std::string slack = originwatch::BuildSlackPayload(e);
  auto s = nlohmann::json::parse(slack, nullptr, false);
  FUZZ_CHECK(!s.is_discarded());
  FUZZ_CHECK(s.is_object() && s.size() == 1 && s["text"].is_string());
  // mrkdwn: every field but severity, kind and rule (fixed vocabularies, written
  // as they are) is escaped, so none can open a link or a mention.
  const std::string text = s["text"];
  auto plain = [](const std::string& f) { return f.find_first_of("<>") == std::string::npos; };
  if (plain(e.severity) && plain(e.kind) && plain(e.rule)) {
    FUZZ_CHECK(text.find_first_of("<>") == std::string::npos);
  }
  return 0;
}
