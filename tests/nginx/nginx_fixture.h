// The seed reproductions' fixture, shared by nginx_e2e_test.cc (what nginx
// does and what `nginx check` predicts) and nginx_loop_test.cc (what `probe`
// and the agent then say): a real nginx (Debian nginx-light) started on
// loopback and stopped by PID, real TLS origins, the test PKI.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/pki.h"
#include "support/server_process.h"
#include "support/tls_server.h"

namespace originwatch::testing {
inline namespace nginx_fixture {

namespace fs = std::filesystem;
using nlohmann::json;

inline const char* kNginx = "/usr/sbin/nginx";

inline std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
}

// A status line's code from a GET through the front, or -1 (bounded: 10 s).
inline int HttpGet(const std::string& addr, uint16_t port, const std::string& path, const std::string& host,
            std::string* body = nullptr) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  if (send(fd, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return -1;
  }
  std::string resp;
  char buf[4096];
  for (int i = 0; i < 256; ++i) {  // at most 1 MiB
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (resp.rfind("HTTP/1.", 0) != 0 || resp.size() < 12) return -1;
  if (body) {
    size_t at = resp.find("\r\n\r\n");
    *body = at == std::string::npos ? "" : resp.substr(at + 4);
  }
  return std::atoi(resp.c_str() + 9);
}

inline bool PortOpen(const std::string& addr, uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  close(fd);
  return ok;
}

// One nginx in the foreground (master_process off: one process, one PID).
class NginxProcess {
 public:
  // Writes conf (the http block's content) into dir and starts nginx on it;
  // waits at most 10 s for 127.0.0.1:port. False with a message when it does not come up.
  bool Start(const fs::path& dir, const std::string& http_block, uint16_t port, std::string* error) {
    dir_ = dir;
    fs::create_directories(dir / "temp");
    const std::string conf =
        "worker_processes 1;\n"
        "events { worker_connections 128; }\n"
        "http {\n"
        "    access_log off;\n"
        "    client_body_temp_path temp/body;\n    proxy_temp_path temp/proxy;\n"
        "    fastcgi_temp_path temp/fastcgi;\n    uwsgi_temp_path temp/uwsgi;\n    scgi_temp_path temp/scgi;\n"
        "    proxy_connect_timeout 5s;\n    proxy_read_timeout 5s;\n" +
        http_block + "}\n";
    WriteFile(dir / "nginx.conf", conf);
    const std::string globals = "daemon off; master_process off; pid " + (dir / "nginx.pid").string() +
                                "; error_log " + (dir / "error.log").string() + " info;";
    pid_ = fork();
    if (pid_ == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      if (null >= 0) {
        dup2(null, STDOUT_FILENO);
      }
      std::string p = dir.string() + "/", c = (dir / "nginx.conf").string();
      execl(kNginx, kNginx, "-p", p.c_str(), "-c", c.c_str(), "-g", globals.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (PortOpen("127.0.0.1", port)) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *error = "nginx exited at start: " + ReadFile(dir / "error.log");
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    *error = "nginx did not listen on port " + std::to_string(port) + " within 10 s: " + ReadFile(dir / "error.log");
    return false;
  }

  std::string ErrorLog() const { return ReadFile(dir_ / "error.log"); }
  fs::path conf() const { return dir_ / "nginx.conf"; }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  ~NginxProcess() { Stop(); }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
};

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

inline CliRun RunCheck(const fs::path& dir, const std::string& args) {
  const fs::path out = dir / "check.out", err = dir / "check.err";
  const std::string cmd = std::string(OW_BINARY) + " nginx check " + args + " > " + out.string() + " 2> " + err.string();
  int rc = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

inline bool HasFinding(const json& loc, const std::string& code) {
  for (const json& f : loc["findings"]) {
    if (f["code"] == code) return true;
  }
  return false;
}

class NginxSeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kNginx, X_OK) != 0) {
      if (const char* req = std::getenv("ORIGINWATCH_REQUIRE_PEERS"); req && std::string(req) == "1") {
        FAIL() << kNginx << " is missing (install nginx-light) and ORIGINWATCH_REQUIRE_PEERS=1";
      }
      GTEST_SKIP() << kNginx << " is missing (install nginx-light)";
    }
    std::string tmpl = (fs::temp_directory_path() / "ow-nginx-e2e-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    front_.Stop();
    origin_.Stop();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // An origin nginx that requires SNI (ssl_reject_handshake in its default
  // server: no SNI or an unknown name gets alert 112) and answers 200 for
  // activity.example.com, with a certificate from the test PKI.
  uint16_t StartSniOnlyOrigin() {
    const Issued leaf = pki_.Leaf(CertOptions{.dns_names = {"activity.example.com"}});
    fs::create_directories(dir_ / "origin");
    WriteFile(dir_ / "origin" / "cert.pem", leaf.ChainPem());
    WriteFile(dir_ / "origin" / "key.pem", leaf.KeyPem());
    const uint16_t port = FreeLoopbackPort();
    const std::string listen = "127.0.0.1:" + std::to_string(port);
    std::string err;
    EXPECT_TRUE(origin_.Start(dir_ / "origin",
                              "    server {\n        listen " + listen + " ssl default_server;\n"
                              "        ssl_reject_handshake on;\n    }\n"
                              "    server {\n        listen " + listen + " ssl;\n"
                              "        server_name activity.example.com;\n"
                              "        ssl_certificate cert.pem;\n        ssl_certificate_key key.pem;\n"
                              "        location / { return 200 \"activity ok\\n\"; }\n    }\n",
                              port, &err))
        << err;
    return port;
  }

  // The front: www.example.com on 127.0.0.1, one location.
  void StartFront(const std::string& upstreams, const std::string& location_body) {
    front_port_ = FreeLoopbackPort();
    std::string err;
    ASSERT_TRUE(front_.Start(dir_ / "front",
                             upstreams + "    server {\n        listen 127.0.0.1:" + std::to_string(front_port_) +
                                 ";\n        server_name www.example.com;\n        location /promo {\n" +
                                 location_body + "        }\n    }\n",
                             front_port_, &err))
        << err;
  }

  json CheckJson(int expected_exit) {
    CliRun r = RunCheck(dir_, "--json --timeout 5s " + front_.conf().string());
    EXPECT_EQ(r.exit_code, expected_exit) << r.out << r.err;
    json doc = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << r.out << r.err;
    if (doc.is_discarded()) return json::object();
    EXPECT_EQ(doc["schema"], "originwatch.nginx/1");
    EXPECT_EQ(doc["locations"].size(), 1u) << r.out;
    return doc["locations"].empty() ? json::object() : doc["locations"][0];
  }

  Pki pki_ = Pki::Create();
  fs::path dir_;
  NginxProcess origin_, front_;
  uint16_t front_port_ = 0;
};

}  // namespace nginx_fixture
}  // namespace originwatch::testing
