// An agent with its HTTP endpoint on a free loopback port, against real TLS
// servers of the test scenarios, and a small libcurl client to talk to it.
// Shared by endpoint_test.cc and status_page_test.cc.
#pragma once

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "integration/agent_process.h"
#include "probe/engine_fixture.h"
#include "support/scenarios.h"

namespace originwatch::testing {

struct EndpointReply {
  long status = 0;  // 0: no answer
  std::string body;
  std::string content_type;
};

inline EndpointReply HttpCall(const std::string& method, const std::string& url) {
  EndpointReply r;
  CURL* c = curl_easy_init();
  if (c == nullptr) return r;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
  if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* out) {
        static_cast<std::string*>(out)->append(p, size * n);
        return size * n;
      });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  if (curl_easy_perform(c) == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char* ct = nullptr;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct != nullptr) r.content_type = ct;
  }
  curl_easy_cleanup(c);
  return r;
}

// A loopback port nobody listens on right now (the kernel's choice).
inline uint16_t FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

class EndpointAgentTest : public EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    scenarios_ = BuildScenarios(*pki_);
    db_ = (dir_ / "history.db").string();
    config_ = (dir_ / "agent.toml").string();
    log_ = (dir_ / "agent.log").string();
    port_ = FreeLoopbackPort();
    ASSERT_NE(port_, 0);
    base_ = "http://127.0.0.1:" + std::to_string(port_);
  }

  // Starts the scenario's server (once) and returns its origin's TOML: SNI
  // and no SNI, profile modern.
  std::string Origin(const std::string& scenario) {
    const Scenario* sc = FindScenario(scenarios_, scenario);
    EXPECT_NE(sc, nullptr) << scenario;
    if (sc == nullptr) return "";
    servers_.push_back(StartScenario(*sc));
    EXPECT_NE(servers_.back(), nullptr);
    std::ostringstream o;
    o << "[[origin]]\nname = \"" << scenario << "\"\nhost = \"" << sc->host << "\"\nport = " << servers_.back()->port()
      << "\nconnect = [\"" << servers_.back()->address() << "\"]\nsni = [\"" << sc->host
      << "\", \"none\"]\nprofiles = [\"modern\"]\n\n";
    return o.str();
  }

  // [agent] with the endpoint; `extra` lines go into [agent].
  std::string Agent(const std::string& extra = "") {
    return "[agent]\ndatabase = \"" + db_ +
           "\"\ninterval = \"1s\"\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\nmax_per_address = 100\nca_file = \"" +
           ca_file_ + "\"\nlisten = \"127.0.0.1:" + std::to_string(port_) + "\"\n" + extra + "\n";
  }

  void WriteConfig(const std::string& text) {
    std::ofstream f(config_);
    f << text;
  }

  bool StartAgent() { return agent_.Start({OW_BINARY, "run", "-c", config_}, log_); }

  EndpointReply Get(const std::string& path) { return HttpCall("GET", base_ + path); }
  EndpointReply Post(const std::string& path) { return HttpCall("POST", base_ + path); }

  // Waits until /metrics has a probe_success series for both variants (SNI
  // and none) of every origin named.
  bool WaitForOrigins(const std::vector<std::string>& names, std::chrono::milliseconds timeout) {
    return WaitFor(
        [&] {
          const EndpointReply r = Get("/metrics");
          if (r.status != 200) return false;
          for (const std::string& n : names) {
            const std::string series = "originwatch_probe_success{origin=\"" + n + "\"";
            const size_t first = r.body.find(series);
            if (first == std::string::npos || r.body.find(series, first + 1) == std::string::npos) return false;
          }
          return true;
        },
        timeout);
  }

  std::vector<Scenario> scenarios_;
  std::vector<std::unique_ptr<TlsTestServer>> servers_;
  std::string db_, config_, log_, base_;
  uint16_t port_ = 0;
  AgentProcess agent_;
};

}  // namespace originwatch::testing
