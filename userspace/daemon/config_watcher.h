// Calls back when the config file changes: written in place, or replaced by
// rename (editors, `mv new.yaml hopless.yaml`), or swapped through a symlink
// in its directory (a Kubernetes ConfigMap volume's ..data).
// It watches the directory, not the file, so a replaced file is still seen.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio.hpp>
#include <functional>
#include <string>

#include "common/unique_fd.h"

namespace hl {

class ConfigWatcher {
public:
    ConfigWatcher(boost::asio::io_context& io, std::string path, std::function<void()> on_change);
    bool start();  // false when inotify is unavailable (SIGHUP still works)

private:
    void read_more();
    void debounce(bool whole);
    std::string link_head() const;

    boost::asio::posix::stream_descriptor stream_;
    boost::asio::steady_timer timer_;
    std::string dir_, file_;
    std::function<void()> on_change_;
    alignas(8) char buf_[4096];
};

}  // namespace hl
