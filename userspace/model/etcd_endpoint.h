// etcd endpoints as the config names them ("http://10.0.0.1:2379") and the
// gRPC target each becomes. In model/, not etcd/: the config is checked with
// it when it loads, and libhopless does not link gRPC.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace hl::etcd {

struct Endpoint {
    std::string url;     // as given, for messages
    std::string target;  // gRPC target: "ipv4:10.0.0.1:2379", "ipv6:[fd00::1]:2379", "dns:///etcd-1:2379"
};

// Accepts [http://]HOST[:PORT][/] with HOST an IPv4 literal, a bracketed
// IPv6 literal or a DNS name; PORT defaults to 2379, etcd's client port.
// https:// is refused (no TLS yet), as is anything else.
Result<Endpoint> parse_endpoint(std::string_view url);

}  // namespace hl::etcd
