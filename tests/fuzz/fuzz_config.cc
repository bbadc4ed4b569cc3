// Fuzzes ParseConfig, the function the agent loads its configuration text
// through (LoadConfigFile reads the file, then calls it): any bytes must give
// either a config or errors with positions inside the text, never a crash.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "originwatch/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  originwatch::LoadResult r = originwatch::ParseConfig(text, "fuzz.toml");
  FUZZ_CHECK(r.ok() == r.config.has_value());
  if (r.ok()) {
    // A loaded config always has an origin (config.h: "at least one").
    FUZZ_CHECK(!r.config->origins.empty());
    return 0;
  }
  size_t lines = 1;
  for (char c : text) lines += c == '\n';
  for (size_t i = 0; i < r.errors.size(); ++i) {
    const auto& e = r.errors[i];
    if (i > 0) {
      // By line then column; the errors without a position (line 0, such as
      // "no [[origin]] defined") come after all the others.
      const auto& p = r.errors[i - 1];
      if (e.line != 0) {
        FUZZ_CHECK(p.line != 0);
        FUZZ_CHECK(p.line < e.line || (p.line == e.line && p.column <= e.column));
      }
    }
    FUZZ_CHECK(!e.message.empty());
    FUZZ_CHECK(e.line >= 0 && static_cast<size_t>(e.line) <= lines + 1);
    FUZZ_CHECK(e.line != 0 || e.column == 0);
    FUZZ_CHECK(!e.ToString().empty());
  }
  return 0;
}
