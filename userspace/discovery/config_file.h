// The YAML config file (DESIGN.md "Config") -> a validated Config.
// A config is accepted whole or rejected whole; every problem found is named
// by its path in the document ("services[1].backends[0].port") and its value.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/error.h"
#include "model/config.h"

namespace hl {

// Returns an error text when the cgroup named in attach: cannot be used
// (the daemon checks the real filesystem; unit tests pass their own).
using CgroupCheck = std::function<std::optional<std::string>(const std::string& path)>;

Result<Config> parse_config(const std::string& yaml_text, const CgroupCheck& check_cgroup = {});
Result<Config> load_config_file(const std::string& path, const CgroupCheck& check_cgroup = {});

}  // namespace hl
