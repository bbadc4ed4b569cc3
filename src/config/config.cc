// The public face of src/config (include/originwatch/config.h): reading the
// file, and the small methods of the config values. The TOML reader itself is
// in toml_reader.h and the parse_*.cc files.
#include "originwatch/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "config/bounds.h"
#include "config/names.h"

namespace originwatch {

using config_internal::Quoted;

std::string ConfigError::ToString() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

const ClientProfile* AgentConfig::FindProfile(std::string_view name) const {
  for (const auto& p : profiles) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const OriginConfig* AgentConfig::FindOrigin(std::string_view name) const {
  for (const auto& o : origins) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

const ProfileSource* AgentConfig::FindProfileSource(std::string_view name) const {
  for (const auto& s : profile_sources) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

SourcePos ProfileSource::KeyOrTable(std::string_view key) const {
  auto it = keys.find(std::string(key));
  return it != keys.end() ? it->second : table;
}

namespace {

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

LoadResult LoadConfigFile(const std::string& path) {
  auto unreadable = [&](int err) {
    LoadResult r;
    r.errors.push_back({path, 0, 0, "cannot read " + Quoted(path) + ": " + std::strerror(err)});
    return r;
  };
  auto too_big = [&](uint64_t bytes, bool at_least) {
    LoadResult r;
    r.errors.push_back({path, 0, 0,
                        "the file is " + std::string(at_least ? "more than " : "") +
                            std::to_string(bytes) + " bytes; the limit is 32 MiB (" +
                            std::to_string(kMaxConfigBytes) + " bytes)"});
    return r;
  };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return unreadable(errno);
  // The size is checked before anything is read; a pipe or a file that grows
  // meanwhile is cut off one byte past the limit (and then refused).
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return unreadable(errno);
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > kMaxConfigBytes) {
    return too_big(static_cast<uint64_t>(st.st_size), false);
  }
  std::string text;
  char buf[65536];
  while (text.size() <= kMaxConfigBytes) {
    const size_t want = std::min(sizeof buf, kMaxConfigBytes + 1 - text.size());
    ssize_t n = ::read(fd.get(), buf, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return unreadable(errno);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  if (text.size() > kMaxConfigBytes) return too_big(kMaxConfigBytes, true);
  return ParseConfig(text, path);
}

}  // namespace originwatch