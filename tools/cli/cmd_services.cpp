// hopless service | backend | stats | hosts: views of the services map.
#include <unistd.h>

#include <map>
#include <set>

#include "cli.h"

namespace hl::cli {

namespace {

const char* kServiceHelp =
    "Usage: hopless service { list | show SERVICE | apply FILE | delete SERVICE | help }\n"
    "       SERVICE := { NAME | NAMESPACE/NAME | VIP:PORT }\n"
    "       list, show    read the pinned maps (they work while hoplessd is down)\n"
    "       apply FILE    define or replace services through hoplessd: FILE (or - for stdin) holds\n"
    "                     one services[] item of the config, or a list of them, in YAML or JSON\n"
    "       delete        remove a service defined through the API (a service from the config\n"
    "                     file changes only in the file)\n";
const char* kBackendHelp = "Usage: hopless backend { list [service SERVICE] | help }\n";
const char* kStatsHelp = "Usage: hopless stats [service SERVICE]\n";
const char* kHostsHelp =
    "Usage: hopless hosts [namespace NS]\n"
    "       prints an /etc/hosts file: localhost, then one 'VIP NAME' line per service\n";

Result<Inventory> inventory(Context& ctx) {
    auto maps = open_maps(ctx);
    if (!maps) return maps.error();
    return read_inventory(*maps);
}

// The services named by an optional `service SERVICE` pair, else all of them.
Result<std::vector<const ServiceView*>> selected(const Inventory& inv,
                                                 const std::vector<std::pair<std::string, std::string>>& pairs) {
    std::vector<const ServiceView*> which;
    if (!pairs.empty()) {
        auto s = find_service(inv, pairs[0].second);
        if (!s) return s.error();
        which.push_back(*s);
    } else {
        for (const auto& s : inv.services) which.push_back(&s);
    }
    return which;
}

Result<Output> service_list(Context& ctx, Words args) {
    if (!args.empty()) return Error{"service list takes no arguments", 0};
    auto inv = inventory(ctx);
    if (!inv) return inv.error();
    Output out{json::array(), ""};
    // With -j, each backend's source and TTL, which only the daemon knows
    // (the maps hold what is in force, not where it came from): added when
    // the daemon answers, left out when it is down.
    std::map<std::pair<std::string, std::string>, json> live;
    if (ctx.opts.json && ::access(ctx.opts.socket.c_str(), F_OK) == 0)
        if (auto all = api_call(ctx, "GET", "/v1/services"); all && all->contains("services"))
            for (auto& sj : (*all)["services"]) {
                std::pair<std::string, std::string> key{sj.value("namespace", ""), sj.value("name", "")};
                live[std::move(key)] = std::move(sj);  // the key first: `=` moves its right side before
            }
    Table t({"NAMESPACE", "NAME", "VIP:PORT", "PROTO", "ALGORITHM", "BACKENDS", "CONNECTIONS", "NO-BACKEND"});
    for (const auto& s : inv->services) {
        json j = service_json(s, false);
        if (auto it = live.find({s.ns, s.name}); it != live.end()) {
            j["source"] = it->second.value("source", "");
            json eps = json::array();
            for (const auto& b : it->second.value("backends", json::array()))
                eps.push_back({{"id", b.value("id", "")},
                               {"address", b.value("address", "")},
                               {"port", b.value("port", 0)},
                               {"weight", b.value("weight", 1)},
                               {"source", b.value("source", "")},
                               {"host", b.contains("host") ? b["host"] : json(nullptr)},
                               {"ttl", b.contains("ttl") ? b["ttl"] : json(nullptr)},
                               {"ttl_left", b.contains("ttl_left") ? b["ttl_left"] : json(nullptr)}});
            j["endpoints"] = std::move(eps);
        }
        t.row({s.ns, s.name, s.endpoint(), to_string(s.protocol), to_string(s.algorithm),
               std::to_string(j["active_backends"].get<size_t>()) + "/" + std::to_string(s.backends.size()),
               std::to_string(s.stats.connections), std::to_string(s.stats.no_backend)});
        out.data.push_back(std::move(j));
    }
    out.text = inv->services.empty() ? "no services\n" : t.str();
    return out;
}

std::string describe(const ServiceView& s) {
    std::string t;
    t += "service " + s.ns + "/" + s.name + "  (id " + std::to_string(s.id) + ")\n";
    t += "  vip        " + s.endpoint() + " " + to_string(s.protocol) + "\n";
    t += "  algorithm  " + std::string(to_string(s.algorithm)) + "\n";
    t += "  affinity   " + (s.affinity_timeout_s ? std::to_string(s.affinity_timeout_s) + "s" : std::string("off")) + "\n";
    t += "  drain      " + (s.drain_timeout_s ? "sockets of a draining backend end after " + std::to_string(s.drain_timeout_s) + "s" : std::string("draining backends keep their sockets")) + "\n";
    t += "  table      generation " + std::to_string(s.generation) + ", " + std::to_string(s.slot_count) + " slots\n";
    if (s.prefer == Prefer::Local)
        t += std::string("  prefer     local: ") +
             (s.local_table ? "this host's backends take new connects (the others are the fail-over)\n"
                            : "no backend of this host is usable: every backend takes new connects\n");
    if (s.protocol == Protocol::Tcp) {
        t += "  connect    timeout " +
             (s.connect_timeout_ms ? std::to_string(s.connect_timeout_ms) + " ms" : std::string("the kernel's")) + "\n";
        const auto& c = s.lc;
        t += "  lifecycle  active " + std::to_string(s.gauge.active) + ", established " + std::to_string(c.established) +
             ", refused " + std::to_string(c.errors[HL_REASON_REFUSED - 1]) + ", timeout " +
             std::to_string(c.errors[HL_REASON_TIMEOUT - 1]) + ", reset " + std::to_string(c.errors[HL_REASON_RESET - 1]) +
             ", other " + std::to_string(c.errors[HL_REASON_OTHER - 1]) + ", bytes sent " + std::to_string(c.bytes_sent) +
             ", received " + std::to_string(c.bytes_received) + "\n";
        t += "  inbound    connections " + std::to_string(c.inbound) + ", active " +
             std::to_string(s.gauge.inbound_active) + ", bytes sent " + std::to_string(c.inbound_bytes_sent) +
             ", received " + std::to_string(c.inbound_bytes_received) + "\n";
    }
    t += "  counters   connections " + std::to_string(s.stats.connections) + ", no_backend " +
         std::to_string(s.stats.no_backend) + ", udp " + std::to_string(s.stats.udp_translations) +
         ", revnat_stale " + std::to_string(s.stats.revnat_stale) + ", affinity_hits " +
         std::to_string(s.stats.affinity_hits) + ", bind_rejects " + std::to_string(s.stats.bind_rejects) +
         ", sockets_destroyed " + std::to_string(s.stats.sockets_destroyed) + "\n";
    Table b({"  BACKEND", "WEIGHT", "STATE", "HOST", "SLOTS", "CONNECTIONS"});
    for (const auto& be : s.backends)
        b.row({"  " + be.spec.endpoint(), std::to_string(be.spec.weight), to_string(be.spec.state),
               be.spec.remote ? "other" : "this", std::to_string(be.slots), std::to_string(be.connections)});
    return t + (s.backends.empty() ? "  no backends: connects fail with ECONNREFUSED\n" : b.str());
}

Result<Output> service_show(Context& ctx, Words args) {
    if (args.size() != 1) return Error{"service show needs one SERVICE (NAME, NAMESPACE/NAME or VIP:PORT)", 0};
    auto inv = inventory(ctx);
    if (!inv) return inv.error();
    auto s = find_service(*inv, args[0]);
    if (!s) return s.error();
    return Output{service_json(**s, true), describe(**s)};
}

Result<Output> backend_list(Context& ctx, Words args) {
    auto pairs = parse_pairs(args, {"service"});
    if (!pairs) return pairs.error();
    auto inv = inventory(ctx);
    if (!inv) return inv.error();
    auto which = selected(*inv, *pairs);
    if (!which) return which.error();
    Output out{json::array(), ""};
    Table t({"NAMESPACE", "SERVICE", "BACKEND", "WEIGHT", "STATE", "SLOTS", "CONNECTIONS"});
    for (const auto* s : *which)
        for (const auto& b : s->backends) {
            out.data.push_back({{"namespace", s->ns},
                                {"service", s->name},
                                {"id", b.id},
                                {"address", b.spec.address.to_string()},
                                {"port", b.spec.port},
                                {"weight", b.spec.weight},
                                {"state", to_string(b.spec.state)},
                                {"local", !b.spec.remote},
                                {"slots", b.slots},
                                {"connections", b.connections}});
            t.row({s->ns, s->name, b.spec.endpoint(), std::to_string(b.spec.weight), to_string(b.spec.state),
                   std::to_string(b.slots), std::to_string(b.connections)});
        }
    out.text = out.data.empty() ? "no backends\n" : t.str();
    return out;
}

}  // namespace

Result<Output> cmd_service(Context& ctx, Words args) {
    static const std::vector<Command> table = {
        {"list", service_list}, {"show", service_show}, {"apply", service_apply}, {"delete", service_delete}};
    return dispatch(ctx, args, table, kServiceHelp);
}

Result<Output> cmd_backend(Context& ctx, Words args) {
    static const std::vector<Command> table = {{"list", backend_list}};
    return dispatch(ctx, args, table, kBackendHelp);
}

Result<Output> cmd_stats(Context& ctx, Words args) {
    if (!args.empty() && args[0] == "help") return Output{json{{"help", kStatsHelp}}, kStatsHelp};
    auto pairs = parse_pairs(args, {"service"});
    if (!pairs) return pairs.error();
    auto inv = inventory(ctx);
    if (!inv) return inv.error();
    auto which = selected(*inv, *pairs);
    if (!which) return which.error();
    Output out{json::array(), ""};
    Table t({"NAMESPACE", "SERVICE", "CONNECTIONS", "NO-BACKEND", "UDP", "REVNAT-STALE", "AFFINITY-HITS",
             "BIND-REJECTS", "DESTROYED"});
    // The lifecycle of TCP connections (sockops): client side, then server side.
    Table l({"NAMESPACE", "SERVICE", "ACTIVE", "ESTABLISHED", "REFUSED", "TIMEOUT", "RESET", "OTHER", "SENT",
             "RECEIVED", "IN-CONNS", "IN-ACTIVE", "IN-SENT", "IN-RECEIVED"});
    Table b({"NAMESPACE", "SERVICE", "BACKEND", "STATE", "CONNECTIONS", "ACTIVE", "FAILURES-IN-A-ROW", "ERRORS",
             "SENT", "RECEIVED"});
    bool any_tcp = false;
    for (const auto* s : *which) {
        json j{{"namespace", s->ns}, {"service", s->name}, {"stats", stats_json(s->stats)}};
        const bool tcp = s->protocol == Protocol::Tcp;
        if (tcp) j["lifecycle"] = lifecycle_json(*s, which->size() == 1);  // histograms for one service
        json bs = json::array();
        for (const auto& be : s->backends) {
            json bj{{"backend", be.spec.endpoint()}, {"state", to_string(be.spec.state)},
                    {"connections", be.connections}};
            if (tcp) bj["lifecycle"] = backend_lifecycle_json(be);
            bs.push_back(std::move(bj));
            uint64_t errors = 0;
            for (auto e : be.lc.errors) errors += e;
            b.row({s->ns, s->name, be.spec.endpoint(), to_string(be.spec.state), std::to_string(be.connections),
                   tcp ? std::to_string(be.live.active) : "-", tcp ? std::to_string(be.live.consecutive_failures) : "-",
                   tcp ? std::to_string(errors) : "-", tcp ? std::to_string(be.lc.bytes_sent) : "-",
                   tcp ? std::to_string(be.lc.bytes_received) : "-"});
        }
        j["backends"] = bs;
        out.data.push_back(j);
        const auto& x = s->stats;
        t.row({s->ns, s->name, std::to_string(x.connections), std::to_string(x.no_backend),
               std::to_string(x.udp_translations), std::to_string(x.revnat_stale), std::to_string(x.affinity_hits),
               std::to_string(x.bind_rejects), std::to_string(x.sockets_destroyed)});
        if (tcp) {
            any_tcp = true;
            const auto& c = s->lc;
            l.row({s->ns, s->name, std::to_string(s->gauge.active), std::to_string(c.established),
                   std::to_string(c.errors[HL_REASON_REFUSED - 1]), std::to_string(c.errors[HL_REASON_TIMEOUT - 1]),
                   std::to_string(c.errors[HL_REASON_RESET - 1]), std::to_string(c.errors[HL_REASON_OTHER - 1]),
                   std::to_string(c.bytes_sent), std::to_string(c.bytes_received), std::to_string(c.inbound),
                   std::to_string(s->gauge.inbound_active), std::to_string(c.inbound_bytes_sent),
                   std::to_string(c.inbound_bytes_received)});
        }
    }
    out.text = which->empty() ? "no services\n" : t.str() + (any_tcp ? "\n" + l.str() : "") + "\n" + b.str();
    return out;
}

Result<Output> cmd_hosts(Context& ctx, Words args) {
    if (!args.empty() && args[0] == "help") return Output{json{{"help", kHostsHelp}}, kHostsHelp};
    auto pairs = parse_pairs(args, {"namespace"});
    if (!pairs) return pairs.error();
    auto inv = inventory(ctx);
    if (!inv) return inv.error();
    std::string ns = pairs->empty() ? "" : (*pairs)[0].second;
    if (!ns.empty()) {
        bool known = false;
        for (const auto& s : inv->services) known |= s.ns == ns;
        if (!known) return Error{"namespace '" + ns + "' has no services", 0};
    }
    Output out{json::array(), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"};
    std::set<std::pair<std::string, std::string>> seen;  // tcp and udp may share a name and VIP
    for (const auto& s : inv->services) {
        if (!ns.empty() && s.ns != ns) continue;
        if (!seen.insert({s.vip.to_string(), s.name}).second) continue;
        // Without a namespace filter, names are qualified so two namespaces'
        // `web` do not collide.
        std::string names = ns.empty() ? s.name + "." + s.ns : s.name;
        if (ns.empty() && s.ns == "default") names = s.name + " " + names;
        out.text += s.vip.to_string() + "\t" + names + "\n";
        out.data.push_back({{"address", s.vip.to_string()}, {"name", s.name}, {"namespace", s.ns}});
    }
    return out;
}

}  // namespace hl::cli
