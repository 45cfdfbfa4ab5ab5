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

// One services[] item, or a list of them, as YAML or JSON (JSON is YAML):
// what `hopless service apply` and the control API's PUT take. Each item is
// checked as the config file checks it (names, ranges, duplicates within the
// document); errors name the item's path ("services[0].port" for a list,
// "port" for a single item).
Result<std::vector<Service>> parse_services_document(const std::string& text);
// Exactly one services[] item (a list is an error).
Result<Service> parse_service_item(const std::string& text);

}  // namespace hl
