// hoplessd --cleanup: detaches and unpins everything hopless made under a
// pin dir, and nothing else (other files there are left alone).
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

namespace hl {

// Returns what was removed, one line each.
Result<std::vector<std::string>> cleanup_pins(const std::string& pin_dir);

}  // namespace hl
