// ParseOriginUrl (url.h): what an origin's `url` and `originwatch probe URL` accept.
#include "originwatch/url.h"

#include <gtest/gtest.h>

namespace originwatch {
namespace {

OriginUrl Ok(std::string_view text) {
  auto r = ParseOriginUrl(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
  return r.ok() ? r.value() : OriginUrl{};
}

std::string Error(std::string_view text) {
  auto r = ParseOriginUrl(text);
  EXPECT_FALSE(r.ok()) << text << " was accepted";
  return r.ok() ? std::string() : r.status().message();
}

TEST(UrlTest, HttpsDefaults) {
  OriginUrl u = Ok("https://WWW.Example.com");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "www.example.com");
  EXPECT_EQ(u.port, 443);
  EXPECT_FALSE(u.port_given);
  EXPECT_EQ(u.path, "/");
  EXPECT_EQ(u.HostHeader(), "www.example.com");
}

TEST(UrlTest, HttpWithPortPathAndQuery) {
  OriginUrl u = Ok("http://127.0.0.1:8080/promo/x?a=1#frag");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8080);
  EXPECT_TRUE(u.port_given);
  EXPECT_EQ(u.path, "/promo/x?a=1");
  EXPECT_EQ(u.HostHeader(), "127.0.0.1:8080");
  EXPECT_EQ(Ok("HTTP://h").port, 80);
  EXPECT_EQ(Ok("http://h:80/").HostHeader(), "h");
  EXPECT_EQ(Ok("https://h?q").path, "/?q");
}

TEST(UrlTest, Ipv6InBrackets) {
  OriginUrl u = Ok("https://[::1]:8443/health");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 8443);
  EXPECT_EQ(u.HostHeader(), "[::1]:8443");
  EXPECT_EQ(Ok("https://[2001:db8::1]").HostHeader(), "[2001:db8::1]");
}

TEST(UrlTest, ErrorsSayWhat) {
  EXPECT_NE(Error("ftp://x").find("must start with http:// or https://"), std::string::npos);
  EXPECT_NE(Error("www.example.com").find("must start with"), std::string::npos);
  EXPECT_NE(Error("https://").find("no host"), std::string::npos);
  EXPECT_NE(Error("https://:443/").find("no host"), std::string::npos);
  EXPECT_NE(Error("https://h:0/").find("1-65535"), std::string::npos);
  EXPECT_NE(Error("https://h:99999/").find("1-65535"), std::string::npos);
  EXPECT_NE(Error("https://h:/").find("1-65535"), std::string::npos);
  EXPECT_NE(Error("https://h:8x/").find("not a number"), std::string::npos);
  EXPECT_NE(Error("https://user:pw@h/").find("user name or password"), std::string::npos);
  EXPECT_NE(Error("https://[::1/").find("no closing"), std::string::npos);
  EXPECT_NE(Error("https://[nothost]/").find("not an IPv6"), std::string::npos);
  EXPECT_NE(Error("https://[::1]x/").find("after the URL's IPv6"), std::string::npos);
  EXPECT_NE(Error("https://h o/").find("space or a control"), std::string::npos);
  EXPECT_NE(Error("https://h%41/").find("not a DNS name"), std::string::npos);
}

}  // namespace
}  // namespace originwatch
