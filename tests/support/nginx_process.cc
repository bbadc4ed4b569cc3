#include "support/nginx_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace originwatch::testing {
namespace {

bool Accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  ::close(fd);
  return ok;
}

bool Executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

}  // namespace

std::string NginxProcess::Binary() {
  if (const char* env = std::getenv("ORIGINWATCH_NGINX"); env != nullptr && Executable(env)) return env;
  if (Executable("/usr/sbin/nginx")) return "/usr/sbin/nginx";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  std::string d;
  while (std::getline(dirs, d, ':')) {
    if (!d.empty() && Executable(d + "/nginx")) return d + "/nginx";
  }
  return "";
}

std::unique_ptr<NginxProcess> NginxProcess::Start(const std::filesystem::path& dir, const std::string& http_body,
                                                  const std::vector<uint16_t>& ports, std::string* error) {
  const std::string bin = Binary();
  if (bin.empty()) {
    *error = "nginx is not installed (Debian: nginx-light)";
    return nullptr;
  }
  const std::string d = dir.string();
  std::filesystem::create_directories(dir / "tmp");
  {
    std::ofstream conf(dir / "nginx.conf");
    conf << "daemon off;\nmaster_process off;\nworker_processes 1;\n"
         << "pid " << d << "/nginx.pid;\nerror_log " << d << "/error.log info;\n"
         << "events { worker_connections 256; }\n"
         << "http {\n  access_log off;\n"
         << "  client_body_temp_path " << d << "/tmp/body;\n  proxy_temp_path " << d << "/tmp/proxy;\n"
         << "  fastcgi_temp_path " << d << "/tmp/fastcgi;\n  uwsgi_temp_path " << d << "/tmp/uwsgi;\n"
         << "  scgi_temp_path " << d << "/tmp/scgi;\n"
         << http_body << "\n}\n";
    if (!conf) {
      *error = "cannot write " + (dir / "nginx.conf").string();
      return nullptr;
    }
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    *error = "fork failed";
    return nullptr;
  }
  if (pid == 0) {
    const std::string conf = d + "/nginx.conf", elog = d + "/error.log", prefix = d + "/";
    ::execl(bin.c_str(), "nginx", "-p", prefix.c_str(), "-c", conf.c_str(), "-e", elog.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::unique_ptr<NginxProcess> proc(new NginxProcess(pid, dir));
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (uint16_t port : ports) {
    while (!Accepts(port)) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        proc->pid_ = -1;
        *error = "nginx exited at start: " + proc->ErrorLog();
        return nullptr;
      }
      if (std::chrono::steady_clock::now() >= until) {
        *error = "nginx did not listen on 127.0.0.1:" + std::to_string(port) + " within 10 s: " + proc->ErrorLog();
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return proc;
}

NginxProcess::~NginxProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 250; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

std::string NginxProcess::ErrorLog() const {
  std::ifstream in(dir_ / "error.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

}  // namespace originwatch::testing
