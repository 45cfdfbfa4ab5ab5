#include "daemon/config_watcher.h"

#include <spdlog/spdlog.h>
#include <sys/inotify.h>

#include <filesystem>

namespace hl {

ConfigWatcher::ConfigWatcher(boost::asio::io_context& io, std::string path, std::function<void()> on_change)
    : stream_(io), timer_(io), on_change_(std::move(on_change)) {
    std::filesystem::path p = std::filesystem::absolute(path);
    dir_ = p.parent_path().string();
    file_ = p.filename().string();
}

bool ConfigWatcher::start() {
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        spdlog::warn("inotify unavailable ({}): config changes need SIGHUP", std::strerror(errno));
        return false;
    }
    if (inotify_add_watch(fd, dir_.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY) < 0) {
        spdlog::warn("cannot watch {} ({}): config changes need SIGHUP", dir_, std::strerror(errno));
        ::close(fd);
        return false;
    }
    stream_.assign(fd);
    read_more();
    return true;
}

void ConfigWatcher::read_more() {
    stream_.async_read_some(boost::asio::buffer(buf_), [this](boost::system::error_code ec, size_t n) {
        if (ec) return;
        bool ours = false, whole = false;
        const std::string via = link_head();
        for (size_t off = 0; off + sizeof(inotify_event) <= n;) {
            auto* ev = reinterpret_cast<const inotify_event*>(buf_ + off);
            if (ev->len && (file_ == ev->name || (!via.empty() && via == ev->name))) {
                ours = true;
                // Closed after writing, or renamed into place: the file is whole.
                whole |= (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) != 0;
            }
            off += sizeof(inotify_event) + ev->len;
        }
        if (ours) debounce(whole);
        read_more();
    });
}

// A Kubernetes ConfigMap volume: hopless.yaml -> ..data/hopless.yaml, and an
// update renames a new ..data symlink over the old one; the file itself sees
// no event. When the config is a relative symlink through an entry of its own
// directory, that entry counts as the file. Read at each event: the file may
// have become a symlink since the start.
std::string ConfigWatcher::link_head() const {
    std::error_code ec;
    std::filesystem::path target = std::filesystem::read_symlink(std::filesystem::path(dir_) / file_, ec);
    if (ec || target.empty() || target.is_absolute()) return {};
    std::string head = target.begin()->string();
    return head == "." || head == ".." ? std::string() : head;
}

// An editor's save is several events (create, modify, close, rename): wait
// until they settle, then reload once. A file closed after writing or
// renamed into place is whole: a few milliseconds gather the rest of that
// save; a file still being written (modified, not closed) gets longer.
void ConfigWatcher::debounce(bool whole) {
    timer_.expires_after(std::chrono::milliseconds(whole ? 5 : 50));
    timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) on_change_();
    });
}

}  // namespace hl
