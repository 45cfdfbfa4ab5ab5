#include "control/router.h"

#include <exception>
#include <optional>
#include <vector>

#include "control/bodies.h"
#include "control/path.h"
#include "model/validate.h"

namespace hl::control {

namespace {

enum class Route {
    None,
    Health,      // /v1/health
    BackendHealth,  // /v1/health/backends
    ServiceHealth,  // /v1/services/{ns}/{name}/health
    Services,    // /v1/services
    Service,     // /v1/services/{ns}/{name}
    Endpoints,   // /v1/services/{ns}/{name}/endpoints
    Endpoint,    // /v1/services/{ns}/{name}/endpoints/{id}
    Heartbeat,   // /v1/services/{ns}/{name}/endpoints/{id}/heartbeat
    Cgroups,     // /v1/cgroups
};

const char* methods_of(Route r) {
    switch (r) {
        case Route::Health:
        case Route::BackendHealth:
        case Route::ServiceHealth:
        case Route::Services:
        case Route::Endpoints: return "GET";
        case Route::Service:
        case Route::Endpoint:
        case Route::Cgroups: return "PUT, DELETE";
        case Route::Heartbeat: return "POST";
        case Route::None: break;
    }
    return "";
}

Route match(const std::vector<std::string>& s) {
    size_t n = s.size();
    if (n < 2 || s[0] != "v1") return Route::None;
    if (n == 2 && s[1] == "health") return Route::Health;
    if (n == 3 && s[1] == "health" && s[2] == "backends") return Route::BackendHealth;
    if (n == 2 && s[1] == "cgroups") return Route::Cgroups;
    if (s[1] != "services") return Route::None;
    if (n == 2) return Route::Services;
    if (n == 4) return Route::Service;
    if (n == 5 && s[4] == "health") return Route::ServiceHealth;
    if (n >= 5 && s[4] != "endpoints") return Route::None;
    if (n == 5) return Route::Endpoints;
    if (n == 6) return Route::Endpoint;
    if (n == 7 && s[6] == "heartbeat") return Route::Heartbeat;
    return Route::None;
}

bool method_allowed(Route r, const std::string& m) {
    std::string_view all = methods_of(r);
    for (size_t at = 0; at < all.size();) {
        size_t comma = all.find(", ", at);
        if (all.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at) == m) return true;
        if (comma == std::string_view::npos) break;
        at = comma + 2;
    }
    return false;
}

Reply bad(const Error& e) { return Reply::error(400, e.message); }

std::string quoted(const std::string& s) { return show_json(nlohmann::json(s)); }

// Path segments as a user named them; 400 names the one that is wrong.
std::optional<Reply> check_names(const std::vector<std::string>& s) {
    if (s.size() >= 4) {
        if (!valid_name(s[2]))
            return Reply::error(400, "namespace: " + quoted(s[2]) + " is not a name (1-63 of A-Z a-z 0-9 - _ .)");
        if (!valid_name(s[3]))
            return Reply::error(400, "name: " + quoted(s[3]) + " is not a name (1-63 of A-Z a-z 0-9 - _ .)");
    }
    if (s.size() >= 6 && !valid_endpoint_id(s[5]))
        return Reply::error(400, "id: " + quoted(s[5]) + " is not an endpoint id (1-128 of A-Z a-z 0-9 . _ : - [ ])");
    return std::nullopt;
}

// Answers through `done` only for the routes whose Handler call answers
// later (services); the others return their Reply.
std::optional<Reply> dispatch(Route r, const Request& req, const std::vector<std::string>& s, Handler& h,
                              Done& done) {
    const std::string& m = req.method;
    bool wants_body = (r == Route::Service || r == Route::Endpoint || r == Route::Cgroups) && m == "PUT";
    wants_body |= r == Route::Cgroups;  // DELETE /v1/cgroups names what to detach
    if (!wants_body && !is_empty_body(req.body))
        return Reply::error(400, "body: " + m + " " + std::string(req.target) + " takes no body");
    switch (r) {
        case Route::Health: return h.health();
        case Route::BackendHealth: return h.backend_health();
        case Route::ServiceHealth: return h.service_health(s[2], s[3]);
        case Route::Services: return h.list_services();
        case Route::Service: {
            if (m == "DELETE") {
                h.delete_service(s[2], s[3], std::move(done));
                return std::nullopt;
            }
            auto svc = parse_service_body(req.body, s[2], s[3]);
            if (!svc) return bad(svc.error());
            h.put_service(*svc, std::move(done));
            return std::nullopt;
        }
        case Route::Endpoints: return h.list_endpoints(s[2], s[3]);
        case Route::Endpoint: {
            if (m == "DELETE") return h.delete_endpoint(s[2], s[3], s[5]);
            auto spec = parse_endpoint_body(req.body);
            if (!spec) return bad(spec.error());
            return h.put_endpoint(s[2], s[3], s[5], *spec);
        }
        case Route::Heartbeat: return h.heartbeat(s[2], s[3], s[5]);
        case Route::Cgroups: {
            auto spec = parse_cgroup_body(req.body, m == "PUT");
            if (!spec) return bad(spec.error());
            return m == "PUT" ? h.attach_cgroup(*spec) : h.detach_cgroup(*spec);
        }
        case Route::None: break;
    }
    return Reply::error(404, "no route");
}

std::string allowed_methods_of(std::string_view target) {
    auto segs = split_path(target.substr(0, target.find('?')));
    return segs ? methods_of(match(*segs)) : "";
}

std::optional<Reply> route_or_defer(const Request& req, Handler& h, Done& done) {
    if (!req.peer_uid) return Reply::error(403, "permission denied: the peer's credentials are unknown");
    if (*req.peer_uid != 0)
        return Reply::error(403, "permission denied: uid " + std::to_string(*req.peer_uid) + " is not root");
    std::string_view target = req.target;
    if (auto q = target.find('?'); q != std::string_view::npos)
        return Reply::error(400, "target: query strings are not taken (" + quoted(std::string(target.substr(q))) + ")");
    auto segs = split_path(target);
    if (!segs) return Reply::error(400, "target: " + quoted(req.target) + " is not a path with valid %-escapes");
    Route r = match(*segs);
    if (r == Route::None) return Reply::error(404, "no route for " + req.method + " " + quoted(req.target));
    if (!method_allowed(r, req.method))
        return Reply::error(405, "method " + quoted(req.method) + " is not allowed on " + quoted(req.target) +
                                     " (allowed: " + methods_of(r) + ")");
    if (auto err = check_names(*segs)) return *err;
    return dispatch(r, req, *segs, h, done);
}

}  // namespace

void route(const Request& req, Handler& h, Done done) {
    // A Handler that throws before it took `done` answers 500 here; one that
    // took it answers through it (done is moved from only then).
    std::optional<Reply> now;
    try {
        now = route_or_defer(req, h, done);
    } catch (const std::exception& e) {
        now = Reply::error(500, std::string("internal error: ") + e.what());
    }
    if (now && done) done(std::move(*now));
}

std::string allowed_methods(std::string_view target) { return allowed_methods_of(target); }

Reply route(const Request& req, Handler& h) {
    std::optional<Reply> got;
    route(req, h, [&got](Reply r) { got = std::move(r); });
    return got ? std::move(*got) : Reply::error(500, "internal error: the handler did not answer at once");
}

}  // namespace hl::control
