// Proves that an origin expands into the variant matrix people expect: every
// address × SNI × profile, in a stable order, with SNI omitted for IP literals.
#include <gtest/gtest.h>

#include "originwatch/plan.h"

namespace originwatch {
namespace {

TEST(PlanTest, DefaultMatrixProbesWithAndWithoutSniForEveryBuiltinProfile) {
  auto specs = ExpandMatrix(DefaultMatrix("a.example", 8443, {"127.0.0.1", "::1"}));
  ASSERT_EQ(specs.size(), 2u * 2u * BuiltinProfiles().size());
  EXPECT_EQ(specs[0].address, "127.0.0.1");
  EXPECT_EQ(specs[0].sni, std::optional<std::string>("a.example"));
  EXPECT_EQ(specs[0].profile, "modern");
  EXPECT_EQ(specs[1].profile, "legacy-rsa");
  EXPECT_EQ(specs[2].sni, std::nullopt);
  EXPECT_EQ(specs.back().address, "::1");
  EXPECT_EQ(specs[0].port, 8443);
  EXPECT_EQ(specs[0].expect_names, std::vector<std::string>{"a.example"});
  for (size_t i = 0; i < specs.size(); ++i) EXPECT_EQ(specs[i].id, i);
}

TEST(PlanTest, IpLiteralHostIsProbedWithoutSniOnly) {
  auto m = DefaultMatrix("127.0.0.1", 443, {"127.0.0.1"});
  ASSERT_EQ(m.snis.size(), 1u);
  EXPECT_EQ(m.snis[0], std::nullopt);
}

TEST(PlanTest, IpLiteralsAreRecognised) {
  EXPECT_TRUE(IsIpLiteral("10.1.2.3"));
  EXPECT_TRUE(IsIpLiteral("::1"));
  EXPECT_FALSE(IsIpLiteral("example.com"));
  EXPECT_FALSE(IsIpLiteral("10.1.2.300"));
}

}  // namespace
}  // namespace originwatch
