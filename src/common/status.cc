#include "originwatch/status.h"

#include <cerrno>
#include <cstring>

namespace originwatch {

Status Status::FromErrno(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return NotFound(std::move(msg));
    case EINVAL:
      return InvalidArgument(std::move(msg));
    case ENOSYS:
    case EPERM:
    case EACCES:
      return Unavailable(std::move(msg));
    default:
      return IoError(std::move(msg));
  }
}

}  // namespace originwatch
