// Semantic validation of a whole Config: names, ranges, duplicates.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"

namespace hl {

bool valid_name(std::string_view s);
// An endpoint id: 1-128 of A-Z a-z 0-9 . _ : - [ ] (the brackets because an
// id defaults to ADDR:PORT, "[fd00::1]:80" for IPv6). The control API and
// the etcd keys both hold them.
bool valid_endpoint_id(std::string_view id);
inline constexpr size_t kMaxEndpointIdLength = 128;
// A DNS name as dns.zone takes it: dot-separated labels of 1-63 letters,
// digits and '-' (not at a label's ends), at most 200 characters so that
// "_service._proto.namespace." fits in front of it.
bool valid_dns_name(const std::string& s);
// Appends one "path: problem" line per problem found; empty means valid.
void validate_config(const Config& c, std::vector<std::string>& errors);

}  // namespace hl
