#include "daemon/notify.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstring>

namespace hl {

namespace {
// STATUS= is one line: systemctl status shows it as the unit's state.
std::string one_line(std::string s) {
    for (auto& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    if (s.size() > 200) s = s.substr(0, 197) + "...";
    return s;
}

void send(const std::string& message) {
    // sd_notify is a no-op (0) without NOTIFY_SOCKET; < 0 is a real failure.
    if (int r = sd_notify(0, message.c_str()); r < 0)
        spdlog::warn("sd_notify: {}", std::strerror(-r));
}
}  // namespace

void SystemdNotifier::ready(const std::string& status) {
    send("READY=1\nSTATUS=" + one_line(status));
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        // Twice per period, as sd_watchdog_enabled(3) advises.
        interval_ = std::chrono::microseconds(usec / 2);
        spdlog::info("systemd watchdog: WATCHDOG=1 every {} ms", interval_.count() / 1000);
        ping();
    }
}

void SystemdNotifier::status(const std::string& status) { send("STATUS=" + one_line(status)); }

void SystemdNotifier::stopping() { send("STOPPING=1"); }

void SystemdNotifier::ping() {
    send("WATCHDOG=1");
    watchdog_.expires_after(interval_);
    watchdog_.async_wait([this](boost::system::error_code ec) {
        if (!ec) ping();
    });
}

}  // namespace hl
