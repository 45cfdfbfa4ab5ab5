// The CLI's side of the control API: every changing command goes through here.
#include "cli.h"
#include "cli/control_args.h"
#include "control/path.h"

namespace hl::cli {

Result<json> api_call(const Context& ctx, std::string_view method, const std::string& target,
                      const std::optional<json>& body) {
    control::Client client(ctx.opts.socket);
    auto r = client.call(method, target, body);
    if (!r) return r.error();
    if (!r->ok()) return Error{control::error_text(*r), 0};
    return std::move(r->body);
}

Result<std::pair<std::string, std::string>> api_service(const Context& ctx, const std::string& what, json* services) {
    auto ref = parse_service_ref(what);
    if (!ref) return ref.error();
    if (!ref->ns.empty()) return std::pair{ref->ns, ref->name};
    auto all = api_call(ctx, "GET", "/v1/services");
    if (!all) return all.error();
    auto r = resolve_service(*ref, &*all);
    if (services) *services = std::move(*all);
    return r;
}

std::string service_target(std::string_view ns, std::string_view name) {
    return "/v1/services/" + control::encode_segment(ns) + "/" + control::encode_segment(name);
}

}  // namespace hl::cli
