// Proves that the limits of config/bounds.h hold before toml++ parses a file:
// keys of more than 16 parts or 1 KiB, nesting deeper than 32 and texts over
// 32 MiB are refused at their file:line:column, strings and comments never
// count as structure, and no message quotes more than 80 bytes of the file.
#include "config/bounds.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "config/names.h"
#include "originwatch/config.h"

namespace originwatch::testing {
namespace {

const std::string kOrigin = "[[origin]]\nname = \"x\"\nhost = \"example.com\"\n";

std::string DottedKey(int parts) {
  std::string k = "a";
  for (int i = 1; i < parts; ++i) k += ".a";
  return k;
}

std::string Bounds(const std::string& text) {
  std::optional<ConfigError> e = CheckConfigBounds(text, "t.toml");
  return e ? e->ToString() : "ok";
}

TEST(ConfigBounds, SeventeenPartKeyIsRejectedAtItsPosition) {
  EXPECT_EQ(Bounds(kOrigin + "  " + DottedKey(17) + " = 1\n"),
            "t.toml:4:3: key \"" + DottedKey(17) + "\" has more than 16 dotted parts (the limit is 16)");
}

TEST(ConfigBounds, SixteenPartKeyIsWithinBoundsAndLeftToTheSchema) {
  EXPECT_EQ(Bounds(kOrigin + DottedKey(16) + " = 1\n"), "ok");
  LoadResult r = ParseConfig(kOrigin + DottedKey(16) + " = 1\n", "t.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  // The schema's word on it (inside [[origin]]), not a limit.
  EXPECT_EQ(r.errors[0].message.find("dotted parts"), std::string::npos) << r.errors[0].message;
  EXPECT_NE(r.errors[0].message.find("unknown key \"a\""), std::string::npos) << r.errors[0].message;
}

TEST(ConfigBounds, QuotedAndSpacedPartsCountAlike) {
  std::string key = "\"q\"";
  for (int i = 1; i < 17; ++i) key += (i % 2 ? " . 'l'" : ".b");
  EXPECT_EQ(Bounds("x = 1\n" + key + " = 2\n").substr(0, 11), "t.toml:2:1:");
  EXPECT_EQ(Bounds("x = 1\n\"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r\" = 2\n"), "ok");
}

TEST(ConfigBounds, HeadersAndArrayHeadersAreKeysToo) {
  EXPECT_EQ(Bounds("\n[" + DottedKey(17) + "]\n"),
            "t.toml:2:1: table header \"" + DottedKey(17) + "\" has more than 16 dotted parts (the limit is 16)");
  EXPECT_EQ(Bounds("[[ " + DottedKey(17) + " ]]\n").substr(0, 39),
            "t.toml:1:1: array-of-tables header \"a.a");
  EXPECT_EQ(Bounds("[" + DottedKey(16) + "]\n[[" + DottedKey(16) + "]]\n"), "ok");
}

TEST(ConfigBounds, KeysInInlineTablesAreChecked) {
  EXPECT_EQ(Bounds("x = { b = 1, " + DottedKey(17) + " = 2 }\n").substr(0, 12), "t.toml:1:14:");
}

TEST(ConfigBounds, KeyOver1KiBIsRejectedAndQuotedShort) {
  const std::string ok(1024, 'k');
  EXPECT_EQ(Bounds(ok + " = 1\n"), "ok");
  const std::string msg = Bounds(std::string(1025, 'k') + " = 1\n");
  EXPECT_EQ(msg, "t.toml:1:1: key \"" + std::string(80, 'k') +
                     "\"... is longer than 1024 bytes (the limit is 1 KiB)");
  EXPECT_EQ(Bounds("[\"" + std::string(1100, 'q') + "\"]\n").substr(0, 29),
            "t.toml:1:1: table header \"\\\"q");
}

TEST(ConfigBounds, HashAndDotInsideStringsAreNotStructure) {
  const std::string dots = DottedKey(40);
  const std::string text = "a = \"" + dots + " # not a comment\"\n" +
                           "b = '" + dots + " # \\'\n" +
                           "c = \"\"\"\n[" + dots + "]\n# \\\"\"\" " + dots + " = 1\n\"\"\"\"\"\n" +
                           "d = '''\n[[" + dots + "]]\n'' " + dots + " = 1\n'''''\n" +
                           "e = [\"" + dots + "\", # " + dots + "\n  '#', { \"" + dots + "\" = 1 }]\n" +
                           "# " + dots + " = 1\n" +
                           "f = 1979-05-27 07:32:00Z # " + dots + "\n" +
                           "\"g.h\" = \"x\\\"y\" # " + dots + "\n";
  EXPECT_EQ(Bounds(text), "ok");
  // What the scanner skipped is what toml++ reads: the same text parses, and
  // then only the schema complains (no [[origin]], unknown keys).
  LoadResult r = ParseConfig(text, "t.toml");
  for (const ConfigError& e : r.errors) {
    EXPECT_EQ(e.message.find("Error while parsing"), std::string::npos) << e.ToString();
  }
  // After each of those strings a real key is still checked.
  EXPECT_EQ(Bounds(text + DottedKey(17) + " = 1\n").substr(0, 12), "t.toml:16:1:");
}

TEST(ConfigBounds, CrlfLineEndingsAndBom) {
  EXPECT_EQ(Bounds("\xEF\xBB\xBF[agent]\r\nlog_level = \"info\"\r\n# c\r\n\r\n"), "ok");
  EXPECT_EQ(Bounds("a = 1\r\n" + DottedKey(17) + " = 1\r\n").substr(0, 11), "t.toml:2:1:");
}

TEST(ConfigBounds, SyntaxErrorsAreToml_sButKeysAfterThemAreStillChecked) {
  EXPECT_EQ(Bounds("a = \"unterminated\nb = @@@\n= 3\n[x\n"), "ok");
  EXPECT_EQ(Bounds("a = \"unterminated\n" + DottedKey(17) + " = 1\n").substr(0, 11),
            "t.toml:2:1:");
  EXPECT_EQ(Bounds("a = [1, @@ \n" + DottedKey(17) + " = 1\n").substr(0, 11), "t.toml:2:1:");
}

std::string Nested(int depth, bool inline_tables) {
  std::string v = "1";
  for (int i = 0; i < depth; ++i) v = inline_tables ? "{ k = " + v + " }" : "[" + v + "]";
  return v;
}

TEST(ConfigBounds, NestingBeyond32IsRejectedAtTheOpeningBracket) {
  EXPECT_EQ(Bounds("x = " + Nested(32, false) + "\n"), "ok");
  EXPECT_EQ(Bounds("x = " + Nested(32, true) + "\n"), "ok");
  EXPECT_EQ(Bounds("x = " + Nested(33, false) + "\n"),
            "t.toml:1:37: arrays and inline tables nested more than 32 deep (the limit is 32)");
  // { k = { k = ... }: the 33rd '{' is at column 5 + 32 * 6.
  EXPECT_EQ(Bounds("\n\nx = " + Nested(33, true) + "\n"),
            "t.toml:3:" + std::to_string(5 + 32 * 6) +
                ": arrays and inline tables nested more than 32 deep (the limit is 32)");
  // Columns count code points, as toml++ does: "é" is one column.
  EXPECT_EQ(Bounds("x = [\"é\", " + Nested(33, false) + "]\n").substr(0, 12), "t.toml:1:42:");
}

TEST(ConfigBounds, MillionPartKeyIsAnErrorNotACrash) {
  const std::string text = kOrigin + DottedKey(1000000) + " = 1\n";
  ASSERT_GT(text.size(), 1900000u);
  LoadResult r = ParseConfig(text, "big.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  const std::string line = r.errors[0].ToString();
  EXPECT_LE(line.size(), 200u);
  EXPECT_EQ(line.substr(0, 28), "big.toml:4:1: key \"a.a.a.a.a");
  EXPECT_NE(line.find("\"... has more than 16 dotted parts"), std::string::npos) << line;
  const std::string header = "[" + DottedKey(1000000) + "]\n";
  EXPECT_NE(Bounds(header).find("table header"), std::string::npos);
}

TEST(ConfigBounds, TextOver32MiBIsRejectedWhole) {
  std::string text(kMaxConfigBytes + 1, '#');
  text[0] = '\n';
  LoadResult r = ParseConfig(text, "huge.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].ToString(),
            "huge.toml: the file is 33554433 bytes; the limit is 32 MiB (33554432 bytes)");
  text.pop_back();
  EXPECT_EQ(Bounds(text), "ok");
}

TEST(ConfigMessages, UnknownKeysAndValuesAreQuotedAtMost80BytesWithControlsEscaped) {
  const std::string key(300, 'z');
  LoadResult r = ParseConfig("[agent]\n" + key + " = 1\n" + kOrigin, "t.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "unknown key \"" + std::string(80, 'z') + "\"... in [agent]");
  // A 2 MB value is echoed as 80 bytes of it; a control byte as \x01.
  r = ParseConfig("[agent]\nlog_level = \"\\u0001" + std::string(2 << 20, 'v') + "\"\n" + kOrigin,
                  "t.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message.substr(0, 25), "unknown log_level \"\\x01vv");
  EXPECT_LE(r.errors[0].message.size(), 200u);
}

TEST(ConfigMessages, NoMessageCarriesAControlByteOrALongExcerpt) {
  const std::string junk = "\\u0001\\u001b[31m" + std::string(900, 'j');  // TOML escapes
  const std::vector<std::string> files = {
      "[profiles]\n\"" + junk + "\" = 1\n" + kOrigin,
      "[profiles.\"" + junk + "\"]\nciphers = \"x\"\n" + kOrigin,
      "[[origin]]\nname = \"" + junk + "\"\nhost = \"" + junk + "\"\n",
      "[[origin]]\nname = \"x\"\nhost = \"example.com\"\nprofiles = [\"" + junk + "\"]\n",
      "[[origin]]\nname = \"x\"\nhost = \"example.com\"\n\"" + junk + "\" = 1\n",
      "[agent]\nlog_level = \"" + junk + "\"\ninterval = \"" + junk + "\"\n" + kOrigin,
      "[[webhook]]\nname = \"w\"\nurl = \"" + junk + "\"\nformat = \"" + junk + "\"\n" + kOrigin,
      "x = \"" + junk + "\n",  // a syntax error, in toml++'s words
  };
  for (const std::string& text : files) {
    LoadResult r = ParseConfig(text, "t.toml");
    EXPECT_FALSE(r.errors.empty()) << text.substr(0, 80);
    for (const ConfigError& e : r.errors) {
      const std::string line = e.ToString();
      EXPECT_LE(line.size(), 300u) << line;
      for (char c : line) {
        const unsigned char u = static_cast<unsigned char>(c);
        ASSERT_FALSE(u < 0x20 || u == 0x7f) << line;
      }
    }
  }
}

TEST(ConfigMessages, QuotedCutsAtACodePointBoundary) {
  using config_internal::Quoted;
  EXPECT_EQ(Quoted(std::string(80, 'a')), "\"" + std::string(80, 'a') + "\"");
  EXPECT_EQ(Quoted(std::string(79, 'a') + "é"), "\"" + std::string(79, 'a') + "\"...");
  EXPECT_EQ(Quoted("a\nb\x7f"), "\"a\\x0ab\\x7f\"");
}

TEST(ConfigMessages, TomlErrorsAreShortenedAndEscaped) {
  using config_internal::SafeMessage;
  EXPECT_EQ(SafeMessage("saw '" + std::string(100, 'x') + "' here"),
            "saw '" + std::string(80, 'x') + "...' here");
  EXPECT_EQ(SafeMessage("bad \x01 byte"), "bad \\x01 byte");
  EXPECT_LE(SafeMessage(std::string(5000, 'm')).size(), 243u);
  // A hostile scalar: whatever toml++ says of it stays one short line.
  LoadResult r = ParseConfig("x = 1" + std::string(1 << 20, '_') + "!\n", "t.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_LE(r.errors[0].ToString().size(), 260u) << r.errors[0].ToString();
}

}  // namespace
}  // namespace originwatch::testing
