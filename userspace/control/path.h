// The control API's URL paths: percent-coding of path segments and the
// checks on what a segment may hold.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/validate.h"

namespace hl::control {

// Percent-encodes one path segment: every byte but RFC 3986's unreserved
// ones (A-Z a-z 0-9 - . _ ~) becomes %XX, so "/" and ":" survive a trip.
std::string encode_segment(std::string_view s);

// Splits an origin-form path ("/v1/services/a%2Fb") into its decoded
// segments; nullopt when a segment holds a bad escape (%zz, a lone %).
// Leading "/" required; an empty segment (a double or trailing "/") stays
// empty, so such a path matches no route.
std::optional<std::vector<std::string>> split_path(std::string_view path);

// An endpoint id (model/validate.h: the etcd keys hold them too).
using hl::kMaxEndpointIdLength;
using hl::valid_endpoint_id;

}  // namespace hl::control
