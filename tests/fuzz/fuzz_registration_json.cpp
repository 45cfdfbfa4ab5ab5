// libFuzzer target: the control API's request bodies (registrations,
// cgroups, services) must never crash, whatever JSON or bytes arrive; and a
// service the API accepts must read back as itself from the JSON `hopless
// service apply` would send for it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "control/bodies.h"
#include "discovery/service_json.h"
#include "discovery/config_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)hl::control::parse_json_body(text);
    (void)hl::control::is_empty_body(text);
    if (auto e = hl::control::parse_endpoint_body(text)) {
        if (e->port == 0 || (e->ttl_s && (*e->ttl_s == 0 || *e->ttl_s > hl::control::kMaxTtlSeconds)))
            __builtin_trap();  // accepted what the API promises to refuse
    }
    if (auto c = hl::control::parse_cgroup_body(text, true)) {
        if (c->cgroup.has_value() == c->pid.has_value()) __builtin_trap();
    }
    (void)hl::control::parse_cgroup_body(text, false);
    if (auto s = hl::control::parse_service_body(text, "default", "web")) {
        if (s->ns != "default" || s->name != "web") __builtin_trap();
        auto back = hl::parse_service_item(hl::service_to_json(*s).dump());
        if (!back || !(*back == *s)) __builtin_trap();
    }
    return 0;
}
