#pragma once

#include <optional>
#include <string>

namespace hl {

struct DaemonOptions {
    std::string config = "/etc/hopless/hopless.yaml";
    std::optional<std::string> pin_dir;  // overrides the config's pin_dir
    std::optional<std::string> socket;     // overrides control.socket
    std::optional<std::string> state_dir;  // overrides state_dir
    std::string log_level = "info";
    bool cleanup = false;
};

// Parses argv; on --help/--version or a usage error it prints and sets exit_code.
std::optional<DaemonOptions> parse_daemon_options(int argc, char** argv, int& exit_code);

}  // namespace hl
