// Semantic validation of a whole Config: names, ranges, duplicates.
#pragma once

#include <string>
#include <vector>

#include "model/config.h"

namespace hl {

bool valid_name(const std::string& s);
// A DNS name as dns.zone takes it: dot-separated labels of 1-63 letters,
// digits and '-' (not at a label's ends), at most 200 characters so that
// "_service._proto.namespace." fits in front of it.
bool valid_dns_name(const std::string& s);
// Appends one "path: problem" line per problem found; empty means valid.
void validate_config(const Config& c, std::vector<std::string>& errors);

}  // namespace hl
