// How many file descriptors this process has open (entries of /proc/self/fd,
// "." and ".." and the directory's own descriptor included, so only
// differences mean anything); -1 if /proc is not there.
#pragma once

#include <dirent.h>

namespace originwatch::testing {

inline int CountOpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

}  // namespace originwatch::testing
