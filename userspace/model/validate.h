// Semantic validation of a whole Config: names, ranges, duplicates.
#pragma once

#include <string>
#include <vector>

#include "model/config.h"

namespace hl {

bool valid_name(const std::string& s);
// Appends one "path: problem" line per problem found; empty means valid.
void validate_config(const Config& c, std::vector<std::string>& errors);

}  // namespace hl
