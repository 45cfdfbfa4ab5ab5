// The control API's URL paths: percent-coding of path segments and the
// checks on what a segment may hold.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hl::control {

// Percent-encodes one path segment: every byte but RFC 3986's unreserved
// ones (A-Z a-z 0-9 - . _ ~) becomes %XX, so "/" and ":" survive a trip.
std::string encode_segment(std::string_view s);

// Splits an origin-form path ("/v1/services/a%2Fb") into its decoded
// segments; nullopt when a segment holds a bad escape (%zz, a lone %).
// Leading "/" required; an empty segment (a double or trailing "/") stays
// empty, so such a path matches no route.
std::optional<std::vector<std::string>> split_path(std::string_view path);

// An endpoint id: 1-128 of A-Z a-z 0-9 . _ : - [ ] (the brackets because an
// id defaults to ADDR:PORT, "[fd00::1]:80" for IPv6).
bool valid_endpoint_id(std::string_view id);
inline constexpr size_t kMaxEndpointIdLength = 128;

}  // namespace hl::control
