// A whole buffer to a file descriptor: write(2) again after a short write or
// EINTR; errno captured at the failing call.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/error.h"

namespace hl {

inline Status write_all(int fd, const std::string& s, const std::string& what) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("write " + what);
        off += static_cast<size_t>(n);
    }
    return ok_status();
}

}  // namespace hl
