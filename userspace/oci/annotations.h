// What a container asks of hopless through its annotations (DESIGN.md "OCI
// runtime hook"):
//   io.hopless.namespace  NS                      attach the container's cgroup to NS
//   io.hopless.register   "web:8080,dns:53/udp"   register the container as an endpoint of these
//   io.hopless.address    ADDR                    the address to register (else found in its netns)
// Any other io.hopless.* key is an error (a typo must not pass silently).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "model/address.h"
#include "model/service.h"
#include "oci/state.h"

namespace hl::oci {

inline constexpr const char* kAnnotationNamespace = "io.hopless.namespace";
inline constexpr const char* kAnnotationRegister = "io.hopless.register";
inline constexpr const char* kAnnotationAddress = "io.hopless.address";
inline constexpr const char* kAnnotationPrefix = "io.hopless.";

// One "service:port[/proto]" of io.hopless.register.
struct Registration {
    std::string service;
    uint16_t port = 0;
    Protocol protocol = Protocol::Tcp;
    bool operator==(const Registration&) const = default;
};

struct HookRequest {
    std::optional<std::string> attach_ns;    // io.hopless.namespace
    std::string ns = "default";              // where registrations go
    std::vector<Registration> registrations;  // io.hopless.register
    std::optional<IpAddress> address;        // io.hopless.address

    // false: the container has no hopless annotations; the hook does nothing.
    bool wanted() const { return attach_ns.has_value() || !registrations.empty(); }
};

Result<std::vector<Registration>> parse_register(std::string_view text);
Result<HookRequest> parse_annotations(const Annotations& a);

// true when any annotation starts with io.hopless.
bool has_hopless_annotations(const Annotations& a);

// The endpoint id a container's registration gets: "<container-id>:<port>:<proto>"
// (e.g. "web-1:8080:tcp"): unique per container and port, stable between
// poststart and poststop, and free of '/' so it fits in a URL path segment.
std::string endpoint_id(std::string_view container_id, const Registration& r);

}  // namespace hl::oci
