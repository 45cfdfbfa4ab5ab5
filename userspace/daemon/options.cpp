#include "daemon/options.h"

#include <cstdio>
#include <cstring>
#include <string_view>

namespace hl {

static const char* kUsage =
    "Usage: hoplessd [--config FILE] [--pin-dir DIR] [--socket PATH] [--state-dir DIR] [--log-level LEVEL]\n"
    "       hoplessd --cleanup [--pin-dir DIR]\n"
    "\n"
    "Loads the hopless datapath, keeps it in line with the config, serves metrics.\n"
    "\n"
    "  --config FILE      config file (default /etc/hopless/hopless.yaml); re-read on SIGHUP\n"
    "                     and when the file changes\n"
    "  --pin-dir DIR      where maps, programs and links are pinned (default: the config's\n"
    "                     pin_dir, else /sys/fs/bpf/hopless)\n"
    "  --socket PATH      the control API's Unix socket (default: the config's control.socket,\n"
    "                     else /run/hopless/hopless.sock)\n"
    "  --state-dir DIR    where registrations and API-defined services are kept (default: the\n"
    "                     config's state_dir, else /var/lib/hopless)\n"
    "  --log-level LEVEL  trace, debug, info, warn, error (default info)\n"
    "  --cleanup          detach and unpin everything hopless made, then exit\n"
    "  -h, --help         this text\n"
    "  --version          print the version\n"
    "\n"
    "SIGTERM exits and leaves the datapath pinned and working.\n";

std::optional<DaemonOptions> parse_daemon_options(int argc, char** argv, int& exit_code) {
    DaemonOptions o;
    exit_code = 0;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        // A missing value, or an option where the value should be
        // (`--pin-dir --config x`), is an error that names the option.
        auto value = [&](const char* name) -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "hoplessd: %s needs a value\n", name);
            } else if (argv[i + 1][0] == '-' && argv[i + 1][1] != '\0') {
                std::fprintf(stderr, "hoplessd: %s needs a value (got '%s')\n", name, argv[i + 1]);
            } else {
                return argv[++i];
            }
            exit_code = 2;
            return nullptr;
        };
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return std::nullopt;
        } else if (a == "--version") {
            std::puts("hoplessd 0.1.0");
            return std::nullopt;
        } else if (a == "--config" || a == "-c") {
            auto v = value("--config");
            if (!v) return std::nullopt;
            o.config = v;
        } else if (a == "--pin-dir") {
            auto v = value("--pin-dir");
            if (!v) return std::nullopt;
            o.pin_dir = v;
        } else if (a == "--socket") {
            auto v = value("--socket");
            if (!v) return std::nullopt;
            o.socket = v;
        } else if (a == "--state-dir") {
            auto v = value("--state-dir");
            if (!v) return std::nullopt;
            o.state_dir = v;
        } else if (a == "--log-level") {
            auto v = value("--log-level");
            if (!v) return std::nullopt;
            o.log_level = v;
        } else if (a == "--cleanup") {
            o.cleanup = true;
        } else {
            std::fprintf(stderr, "hoplessd: unknown argument '%s' (see --help)\n", argv[i]);
            exit_code = 2;
            return std::nullopt;
        }
    }
    return o;
}

}  // namespace hl
