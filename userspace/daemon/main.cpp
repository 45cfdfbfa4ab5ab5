// hoplessd entry point: options, logging, then the daemon or --cleanup.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cstring>

#include "bpf/cleanup.h"
#include "bpf/object.h"
#include "daemon/daemon.h"
#include "discovery/config_file.h"

int main(int argc, char** argv) {
    int code = 0;
    auto opts = hl::parse_daemon_options(argc, argv, code);
    if (!opts) return code;
    auto logger = spdlog::stderr_color_mt("hoplessd");
    spdlog::set_default_logger(logger);
    auto level = spdlog::level::from_str(opts->log_level);
    if (level == spdlog::level::off && opts->log_level != "off") {
        spdlog::error("--log-level: '{}' is not a level (trace, debug, info, warn, error)", opts->log_level);
        return 2;
    }
    spdlog::set_level(level);
    hl::route_libbpf_log();

    if (opts->cleanup) {
        std::string pin_dir = opts->pin_dir.value_or("");
        if (pin_dir.empty()) {
            // The config names the pin dir when the flag does not; a missing or
            // broken config must not stop a cleanup.
            auto cfg = hl::load_config_file(opts->config);
            pin_dir = cfg ? cfg->pin_dir : hl::Config{}.pin_dir;
        }
        auto removed = hl::cleanup_pins(pin_dir);
        if (!removed) {
            spdlog::error("cleanup: {}", removed.error().what());
            return 1;
        }
        for (const auto& line : *removed) spdlog::info("removed {}", line);
        spdlog::info("cleanup of {} done ({} items)", pin_dir, removed->size());
        return 0;
    }
    if (geteuid() != 0) spdlog::warn("not root: loading BPF needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN");
    // Every descriptor the hard limit allows (systemd's advice for programs
    // that never select()): health probes of thousands of backends, with
    // the slow ones in flight for a whole timeout, need more than 1024.
    if (rlimit nofile{}; ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &nofile) != 0) spdlog::warn("cannot raise the open-file limit: {}", std::strerror(errno));
    }
    hl::Daemon d(*opts);
    return d.run();
}
