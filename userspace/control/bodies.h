// The control API's request bodies: strict JSON in, checked values out.
// Every error names the field and the value ("port: 70000 is not a port
// (1-65535)"); the router turns it into a 400. Kept apart from the HTTP
// layer so that a fuzzer can feed it bytes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/error.h"
#include "control/handler.h"
#include "model/service.h"

namespace hl::control {

// A registration's ttl: 1 s to 7 days (the config's own bound on timeouts).
inline constexpr uint32_t kMaxTtlSeconds = 86400 * 7;
// Linux's PID_MAX_LIMIT: no pid is larger.
inline constexpr int64_t kMaxPid = 4194304;
// Bodies are shallow (a service item is 4 deep): deeper is an error, which
// also keeps the recursive parts (dump, YAML) away from deep input.
inline constexpr int kMaxJsonDepth = 16;

// JSON (RFC 8259) with no key given twice in one object and at most
// kMaxJsonDepth levels; errors start with "body: ".
Result<nlohmann::json> parse_json_body(std::string_view text);

// True for a body that carries nothing: empty, blanks, or "{}" — what a
// request without a body (GET, DELETE, heartbeat) may send.
bool is_empty_body(std::string_view text);

// PUT .../endpoints/{id}: {"address": ADDR, "port": 1-65535,
//   "weight"?: 0-65535 (default 1), "ttl"?: 1-604800 | null (none)}.
Result<EndpointSpec> parse_endpoint_body(std::string_view text);

// PUT /v1/cgroups: {"cgroup": PATH | "pid": N, "namespace"?: NAME};
// DELETE /v1/cgroups (attach = false): {"cgroup": PATH | "pid": N}.
Result<CgroupSpec> parse_cgroup_body(std::string_view text, bool attach);

// PUT /v1/services/{ns}/{name}: one services[] item (parse_service_item),
// whose "namespace" and "name" may be left out (the path's are taken) but
// when given must be the path's.
Result<Service> parse_service_body(std::string_view text, const std::string& ns, const std::string& name);

// A value as an error message shows it: JSON, cut at 64 characters.
std::string show_json(const nlohmann::json& v);

}  // namespace hl::control
