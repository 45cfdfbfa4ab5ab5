// hopless endpoint: registrations over the control API (a task's address
// as a backend of a service, with an optional TTL), and every backend's
// source and time left.
#include <cstdio>

#include "cli.h"
#include "cli/control_args.h"
#include "control/path.h"

namespace hl::cli {

namespace {

const char* kEndpointHelp =
    "Usage: hopless endpoint { register | heartbeat | deregister | list | help }\n"
    "       hopless endpoint register SERVICE address ADDR port PORT [id ID] [weight W] [ttl SECONDS]\n"
    "       hopless endpoint heartbeat SERVICE id ID\n"
    "       hopless endpoint deregister SERVICE id ID\n"
    "       hopless endpoint list [service SERVICE]\n"
    "       SERVICE := { NAME | NAMESPACE/NAME | VIP:PORT }\n"
    "       ID defaults to ADDR:PORT (10.0.0.5:8080, [fd00::5]:8080). With a ttl the endpoint leaves\n"
    "       the service unless heartbeated or registered again within SECONDS (1-604800); without,\n"
    "       it stays until deregistered. Registering an ID again refreshes it (and its TTL).\n"
    "       These go through hoplessd's control socket (--socket); list shows every backend with\n"
    "       its source (file, api, ...) and the time left on its TTL.\n";

std::string endpoint_target(const std::string& ns, const std::string& name, const std::string& id) {
    return service_target(ns, name) + "/endpoints/" + control::encode_segment(id);
}

Result<Output> endpoint_register(Context& ctx, Words args) {
    auto a = parse_register_args(args);
    if (!a) return a.error();
    auto svc = api_service(ctx, a->service);
    if (!svc) return svc.error();
    auto& [ns, name] = *svc;
    auto r = api_call(ctx, "PUT", endpoint_target(ns, name, a->id), a->body());
    if (!r) return r.error();
    bool created = r->is_object() && r->value("created", true);
    json j{{"namespace", ns}, {"service", name}, {"id", a->id}, {"created", created}};
    std::string ttl = a->ttl_s ? " (ttl " + std::to_string(*a->ttl_s) + "s)" : "";
    std::string addr = a->address.with_port(a->port);
    std::string as = a->id == addr ? "" : " (" + addr + ")";
    return Output{j, std::string(created ? "registered " : "refreshed ") + a->id + as + " in " + ns + "/" + name + ttl +
                         "\n"};
}

Result<Output> endpoint_heartbeat(Context& ctx, Words args) {
    auto a = parse_endpoint_id_args(args, "heartbeat");
    if (!a) return a.error();
    auto svc = api_service(ctx, a->service);
    if (!svc) return svc.error();
    auto& [ns, name] = *svc;
    auto r = api_call(ctx, "POST", endpoint_target(ns, name, a->id) + "/heartbeat");
    if (!r) return r.error();
    json j = r->is_object() ? *r : json::object();
    j.update(json{{"namespace", ns}, {"service", name}, {"id", a->id}});
    return Output{j, "heartbeat " + a->id + " in " + ns + "/" + name + "\n"};
}

Result<Output> endpoint_deregister(Context& ctx, Words args) {
    auto a = parse_endpoint_id_args(args, "deregister");
    if (!a) return a.error();
    auto svc = api_service(ctx, a->service);
    if (!svc) return svc.error();
    auto& [ns, name] = *svc;
    auto r = api_call(ctx, "DELETE", endpoint_target(ns, name, a->id));
    if (!r) return r.error();
    return Output{json{{"namespace", ns}, {"service", name}, {"id", a->id}, {"deregistered", true}},
                  "deregistered " + a->id + " from " + ns + "/" + name + "\n"};
}

std::string show_seconds(const json& v, bool fraction) {
    if (!v.is_number()) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, fraction ? "%.1fs" : "%.0fs", v.get<double>());
    return buf;
}

std::string show_endpoint(const json& b) {
    std::string addr = b.value("address", "?");
    int port = b.contains("port") && b["port"].is_number_integer() ? b["port"].get<int>() : 0;
    auto ip = IpAddress::parse(addr);
    return ip && port > 0 && port < 65536 ? ip->with_port(static_cast<uint16_t>(port)) : addr + ":" + std::to_string(port);
}

std::string text_of(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return "-";
    return v.dump();
}

Result<Output> endpoint_list(Context& ctx, Words args) {
    auto pairs = parse_pairs(args, {"service"});
    if (!pairs) return pairs.error();
    // One service by NAMESPACE/NAME: its own route; else the whole list,
    // which also resolves NAME and VIP:PORT.
    std::vector<std::tuple<std::string, std::string, json>> rows;  // ns, service, endpoint
    std::optional<ServiceRef> ref;
    if (!pairs->empty()) {
        auto r = parse_service_ref((*pairs)[0].second);
        if (!r) return r.error();
        ref = *r;
    }
    if (ref && !ref->ns.empty()) {
        auto r = api_call(ctx, "GET", service_target(ref->ns, ref->name) + "/endpoints");
        if (!r) return r.error();
        if (r->contains("endpoints") && (*r)["endpoints"].is_array())
            for (const auto& e : (*r)["endpoints"]) rows.emplace_back(ref->ns, ref->name, e);
    } else {
        auto all = api_call(ctx, "GET", "/v1/services");
        if (!all) return all.error();
        std::optional<std::pair<std::string, std::string>> only;
        if (ref) {
            auto s = resolve_service(*ref, &*all);
            if (!s) return s.error();
            only = *s;
        }
        if (all->contains("services") && (*all)["services"].is_array())
            for (const auto& s : (*all)["services"]) {
                if (!s.is_object()) continue;
                std::string ns = s.value("namespace", ""), name = s.value("name", "");
                if (only && (ns != only->first || name != only->second)) continue;
                if (s.contains("backends") && s["backends"].is_array())
                    for (const auto& b : s["backends"]) rows.emplace_back(ns, name, b);
            }
    }
    Output out{json::array(), ""};
    Table t({"SERVICE", "ID", "ADDRESS:PORT", "WEIGHT", "SOURCE", "TTL", "TTL-LEFT"});
    for (auto& [ns, name, e] : rows) {
        if (!e.is_object()) continue;
        json j{{"namespace", ns}, {"service", name}};
        j.update(e);
        t.row({ns + "/" + name, text_of(e.value("id", json())), show_endpoint(e), text_of(e.value("weight", json())),
               text_of(e.value("source", json())), show_seconds(e.value("ttl", json()), false),
               show_seconds(e.value("ttl_left", json()), true)});
        out.data.push_back(std::move(j));
    }
    out.text = out.data.empty() ? "no endpoints\n" : t.str();
    return out;
}

}  // namespace

Result<Output> cmd_endpoint(Context& ctx, Words args) {
    static const std::vector<Command> table = {{"list", endpoint_list},
                                               {"register", endpoint_register},
                                               {"heartbeat", endpoint_heartbeat},
                                               {"deregister", endpoint_deregister}};
    return dispatch(ctx, args, table, kEndpointHelp);
}

}  // namespace hl::cli
