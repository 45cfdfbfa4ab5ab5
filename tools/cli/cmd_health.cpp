// hopless health [service SERVICE]: each backend's health from hoplessd
// (GET /v1/health/backends): the flag, its last probe, failures in a row,
// ejections; while the daemon is down, the states in the pinned maps.
#include <unistd.h>

#include <cmath>

#include "cli.h"
#include "cli/control_args.h"

namespace hl::cli {

namespace {

const char* kHealthHelp =
    "Usage: hopless health [service SERVICE]\n"
    "       SERVICE := { NAME | NAMESPACE/NAME | VIP:PORT }\n"
    "       each backend: healthy or not, its last probe (result, age), probes failed in a row,\n"
    "       ejections (and the time left of one in force), from hoplessd; while hoplessd does\n"
    "       not answer, the backends' states in the pinned maps only\n";

std::string fixed1(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

std::string last_probe_text(const json& b) {
    const json& p = b.value("last_probe", json());
    if (!p.is_object()) return "-";
    return p.value("result", "") + ", " + fixed1(p.value("age", 0.0)) + "s ago";
}

std::string ejections_text(const json& b) {
    std::string t = std::to_string(b.value("ejections", 0));
    if (b.value("ejected", false)) t += " (ejected, " + fixed1(b.value("ejection_left", 0.0)) + "s left)";
    return t;
}

// From the daemon: every service, or the one SERVICE names.
Result<json> from_daemon(const json& all, const std::optional<std::string>& which) {
    json list = all.value("services", json::array());
    if (!which) return list;
    auto ref = parse_service_ref(*which);
    if (!ref) return ref.error();
    auto n = resolve_service(*ref, &all);
    if (!n) return n.error();
    for (auto& s : list)
        if (s.value("namespace", "") == n->first && s.value("name", "") == n->second) return json::array({s});
    return Error{"no service '" + *which + "'", 0};
}

// From the pinned maps: states only (the flag, probes and ejections live in
// hoplessd).
Result<json> from_maps(Context& ctx, const std::optional<std::string>& which) {
    auto maps = open_maps(ctx);
    if (!maps) return maps.error();
    Inventory inv = read_inventory(*maps, false);
    std::vector<const ServiceView*> pick;
    if (which) {
        auto s = find_service(inv, *which);
        if (!s) return s.error();
        pick.push_back(*s);
    } else {
        for (const auto& s : inv.services) pick.push_back(&s);
    }
    json out = json::array();
    for (const auto* s : pick) {
        json bs = json::array();
        for (const auto& b : s->backends)
            bs.push_back({{"backend", b.spec.endpoint()},
                          {"address", b.spec.address.to_string()},
                          {"port", b.spec.port},
                          {"id", b.id},
                          {"healthy", b.spec.state != BackendState::Quarantined},
                          {"state", to_string(b.spec.state)},
                          {"weight", b.spec.weight}});
        out.push_back({{"namespace", s->ns},
                       {"name", s->name},
                       {"vip", s->vip.to_string()},
                       {"port", s->port},
                       {"from", "maps"},
                       {"backends", std::move(bs)}});
    }
    return out;
}

}  // namespace

Result<Output> cmd_health(Context& ctx, Words args) {
    if (!args.empty() && args[0] == "help") return Output{json{{"help", kHealthHelp}}, kHealthHelp};
    auto pairs = parse_pairs(args, {"service"});
    if (!pairs) return pairs.error();
    std::optional<std::string> which;
    if (!pairs->empty()) which = (*pairs)[0].second;

    std::string note;
    Result<json> services = Error{"", 0};
    control::Client client(ctx.opts.socket);
    auto reply = ::access(ctx.opts.socket.c_str(), F_OK) == 0
                     ? client.call("GET", "/v1/health/backends")
                     : Result<control::ClientReply>(Error{"no control socket at " + ctx.opts.socket, 0});
    if (reply && !reply->ok()) return Error{control::error_text(*reply), 0};
    if (reply) {
        services = from_daemon(reply->body, which);
    } else {
        services = from_maps(ctx, which);
        note = "hoplessd does not answer (" + reply.error().what() + "): backend states from the pinned maps only\n";
    }
    if (!services) return services.error();

    Output out{*services, note};
    Table t({"NAMESPACE", "SERVICE", "BACKEND", "HEALTHY", "STATE", "LAST PROBE", "FAILURES", "EJECTIONS"});
    std::string open;
    size_t rows = 0;
    for (const auto& s : out.data) {
        const std::string ns = s.value("namespace", ""), name = s.value("name", "");
        for (const auto& b : s.value("backends", json::array())) {
            const bool daemon = !s.contains("from");
            t.row({ns, name, b.value("backend", ""), b.value("healthy", true) ? "yes" : "no", b.value("state", ""),
                   daemon ? last_probe_text(b) : "?", daemon ? std::to_string(b.value("failures", 0)) : "?",
                   daemon ? ejections_text(b) : "?"});
            ++rows;
        }
        if (s.value("fail_open", false))
            open += "service " + ns + "/" + name +
                    ": every backend is unhealthy; failing open: new connects go to all of them (" +
                    std::to_string(s.value("fail_opens", 0)) + " times so far)\n";
    }
    out.text += rows ? t.str() + open : "no backends\n";
    return out;
}

}  // namespace hl::cli
