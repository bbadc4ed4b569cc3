// A small tmpfs the test mounts and unmounts itself, to give the database a
// filesystem that really fills up (ENOSPC, SQLITE_FULL), and a filler file
// that takes its free space and gives it back.
//
// Mounting needs CAP_SYS_ADMIN. Where it is refused the test skips with the
// reason, unless ORIGINWATCH_REQUIRE_MOUNT=1 (CI runs as root and sets it):
// then the refusal is a failure, never a skip.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace originwatch::testing {

class Tmpfs {
 public:
  Tmpfs() = default;
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;
  ~Tmpfs() { Unmount(); }

  // Mounts a tmpfs of `bytes` on a fresh directory; false with reason() when
  // the kernel refuses.
  bool Mount(size_t bytes) {
    char tmpl[] = "/tmp/ow-tmpfs-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      reason_ = std::string("mkdtemp: ") + std::strerror(errno);
      return false;
    }
    dir_ = tmpl;
    const std::string opts = "size=" + std::to_string(bytes) + ",mode=0700";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
      reason_ = std::string("mount -t tmpfs: ") + std::strerror(errno) +
                " (needs CAP_SYS_ADMIN; CI runs as root)";
      rmdir(dir_.c_str());
      dir_.clear();
      return false;
    }
    mounted_ = true;
    return true;
  }

  static bool Required() {
    const char* v = std::getenv("ORIGINWATCH_REQUIRE_MOUNT");
    return v != nullptr && std::string(v) == "1";
  }

  const std::string& dir() const { return dir_; }
  const std::string& reason() const { return reason_; }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Writes dir()/filler until the filesystem is full (bounded: at most
  // 64 MiB). Returns the bytes written.
  size_t Fill() {
    int fd = ::open(Path("filler").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) return 0;
    std::vector<char> chunk(4096, 'x');
    size_t total = 0;
    for (int i = 0; i < 16384; ++i) {
      ssize_t n = ::write(fd, chunk.data(), chunk.size());
      if (n <= 0) break;
      total += static_cast<size_t>(n);
    }
    ::close(fd);
    return total;
  }

  // Gives the space back.
  void Free() { ::unlink(Path("filler").c_str()); }

  void Unmount() {
    if (mounted_) {
      if (::umount2(dir_.c_str(), MNT_DETACH) == 0) mounted_ = false;
    }
    if (!dir_.empty() && !mounted_) {
      rmdir(dir_.c_str());
      dir_.clear();
    }
  }

 private:
  std::string dir_;
  std::string reason_;
  bool mounted_ = false;
};

}  // namespace originwatch::testing
