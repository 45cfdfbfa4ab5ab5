// hopless prog show | map show | map dump: the BPF objects themselves.
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <cstring>
#include <filesystem>

#include "bpf/links.h"
#include "bpf/programs.h"
#include "cli.h"

namespace hl::cli {

namespace {

const char* kProgHelp = "Usage: hopless prog { show | help }\n";
const char* kMapHelp =
    "Usage: hopless map { show | dump MAP | help }\n"
    "       MAP := { services | slots | backends | cgroups | rr | service_stats | backend_stats |\n"
    "                affinity | revnat | service_meta | namespaces }  (or its pinned name, e.g. hl_svc_v1)\n";

const char* attach_name(bpf_attach_type t) {
    switch (t) {
        case BPF_CGROUP_INET4_CONNECT: return "connect4";
        case BPF_CGROUP_INET6_CONNECT: return "connect6";
        case BPF_CGROUP_INET4_GETPEERNAME: return "getpeername4";
        case BPF_CGROUP_INET6_GETPEERNAME: return "getpeername6";
        case BPF_CGROUP_UDP4_SENDMSG: return "sendmsg4";
        case BPF_CGROUP_UDP6_SENDMSG: return "sendmsg6";
        case BPF_CGROUP_UDP4_RECVMSG: return "recvmsg4";
        case BPF_CGROUP_UDP6_RECVMSG: return "recvmsg6";
        case BPF_CGROUP_INET4_BIND: return "bind4";
        case BPF_CGROUP_INET6_BIND: return "bind6";
        default: return "?";
    }
}

Result<Output> prog_show(Context& ctx, Words args) {
    if (!args.empty()) return Error{"prog show takes no arguments", 0};
    auto progs = open_pinned_programs(ctx.opts.pin_dir);
    if (!progs) return progs.error();
    LinkStore links(ctx.opts.pin_dir);
    auto cgroups = links.attached();
    Output out{json::array(), ""};
    Table t({"ID", "NAME", "ATTACH", "TAG", "RUN-COUNT", "CGROUPS"});
    for (const auto& p : *progs) {
        bpf_prog_info info;
        std::memset(&info, 0, sizeof info);
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(p.fd.get(), &info, &len) != 0) return sys_error("cannot read info of " + p.name);
        char tag[17] = {};
        for (int i = 0; i < 8; ++i) std::snprintf(tag + 2 * i, 3, "%02x", info.tag[i]);
        size_t n = 0;
        for (uint64_t cg : cgroups)
            if (std::filesystem::exists(links_dir(ctx.opts.pin_dir) + "/" + std::to_string(cg) + "/" + p.name)) ++n;
        out.data.push_back({{"id", info.id},
                            {"name", p.name},
                            {"attach_type", attach_name(p.attach_type)},
                            {"tag", tag},
                            {"run_cnt", info.run_cnt},
                            {"run_time_ns", info.run_time_ns},
                            {"cgroups", n},
                            {"pinned", progs_dir(ctx.opts.pin_dir) + "/" + p.name}});
        t.row({std::to_string(info.id), p.name, attach_name(p.attach_type), tag, std::to_string(info.run_cnt),
               std::to_string(n)});
    }
    out.text = t.str() + "(run counts need: sysctl kernel.bpf_stats_enabled=1)\n";
    return out;
}

struct MapName {
    const char* alias;
    const char* pinned;
};
const std::vector<MapName>& map_table() {
    static const std::vector<MapName> t = {
        {"services", map_names::services},         {"slots", map_names::slots},
        {"backends", map_names::backends},         {"cgroups", map_names::cgroup_ns},
        {"rr", map_names::rr},                     {"service_stats", map_names::service_stats},
        {"backend_stats", map_names::backend_stats}, {"affinity", map_names::affinity},
        {"revnat", map_names::revnat},             {"service_meta", map_names::service_meta},
        {"namespaces", map_names::ns_meta},        {"sockets", map_names::sock},
        {"lifecycle", map_names::service_lc},      {"gauges", map_names::service_gauge},
        {"histograms", map_names::service_hist},   {"backend_live", map_names::backend_live},
        {"backend_lifecycle", map_names::backend_lc}, {"endpoints", map_names::endpoints},
        {"inbound_sockets", map_names::inbound_sock}, {"events", map_names::events},
        {"trace", map_names::trace},               {"trace_ctl", map_names::trace_ctl}};
    return t;
}

const char* type_name(uint32_t t) {
    switch (t) {
        case BPF_MAP_TYPE_HASH: return "hash";
        case BPF_MAP_TYPE_ARRAY: return "array";
        case BPF_MAP_TYPE_PERCPU_ARRAY: return "percpu_array";
        case BPF_MAP_TYPE_LRU_HASH: return "lru_hash";
        case BPF_MAP_TYPE_SK_STORAGE: return "sk_storage";
        case BPF_MAP_TYPE_RINGBUF: return "ringbuf";
        default: return "other";
    }
}

Result<Output> map_show(Context& ctx, Words args) {
    if (!args.empty()) return Error{"map show takes no arguments", 0};
    Output out{json::array(), ""};
    Table t({"ID", "NAME", "ALIAS", "TYPE", "KEY", "VALUE", "MAX-ENTRIES", "PINNED"});
    for (const auto& m : map_table()) {
        std::string path = ctx.opts.pin_dir + "/" + m.pinned;
        auto fd = MapBase::open_pinned(path);
        if (!fd) return Error{fd.error().what() + " (is the datapath loaded? start hoplessd)", 0};
        bpf_map_info info;
        std::memset(&info, 0, sizeof info);
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd->get(), &info, &len) != 0) return sys_error("cannot read info of " + path);
        out.data.push_back({{"id", info.id},
                            {"name", info.name},
                            {"alias", m.alias},
                            {"type", type_name(info.type)},
                            {"key_size", info.key_size},
                            {"value_size", info.value_size},
                            {"max_entries", info.max_entries},
                            {"pinned", path}});
        t.row({std::to_string(info.id), info.name, m.alias, type_name(info.type), std::to_string(info.key_size),
               std::to_string(info.value_size), std::to_string(info.max_entries), path});
    }
    out.text = t.str();
    return out;
}

std::string addr_str(const uint8_t* a) { return IpAddress::from_bytes(a).to_string(); }

json stats_entry(const hl_service_stats& s) { return stats_json(s); }

Result<Output> map_dump(Context& ctx, Words args) {
    if (args.size() != 1) return Error{"map dump needs one MAP (see hopless map help)", 0};
    std::vector<std::string> keys;
    for (const auto& m : map_table()) keys.push_back(m.alias);
    for (const auto& m : map_table()) keys.push_back(m.pinned);
    auto k = match_keyword(args[0], keys);
    if (!k) return k.error();
    const MapName& which = map_table()[*k % map_table().size()];
    auto maps = open_maps(ctx);
    if (!maps) return maps.error();
    json rows = json::array();
    std::string alias = which.alias;
    if (alias == "services") {
        maps->services.for_each([&](const hl_service_key& key, const hl_service& v) {
            rows.push_back({{"key",
                             {{"addr", addr_str(key.addr)}, {"port", ntohs(key.port)}, {"proto", key.proto},
                              {"ns_id", key.ns_id}}},
                            {"value",
                             {{"id", v.id}, {"generation", v.generation}, {"slot_count", v.slot_count},
                              {"algorithm", v.algorithm}, {"affinity_timeout_s", v.affinity_timeout_s},
                              {"connect_timeout_cs", v.connect_timeout_cs}}}});
        });
    } else if (alias == "slots") {
        maps->slots.for_each([&](const hl_slot_key& key, uint32_t v) {
            rows.push_back({{"key", {{"service_id", key.service_id}, {"generation", key.generation}, {"slot", key.slot}}},
                            {"value", {{"backend_id", v}}}});
        });
    } else if (alias == "backends") {
        maps->backends.for_each([&](uint32_t id, const hl_backend& b) {
            rows.push_back({{"key", id},
                            {"value",
                             {{"addr", addr_str(b.addr)}, {"port", ntohs(b.port)}, {"family", b.family},
                              {"state", b.state}, {"weight", b.weight}, {"service_id", b.service_id}}}});
        });
    } else if (alias == "cgroups") {
        maps->cgroup_ns.for_each([&](uint64_t id, const hl_cgroup_ns& v) {
            rows.push_back({{"key", id}, {"value", {{"ns_id", v.ns_id}, {"flags", v.flags}}}});
        });
    } else if (alias == "rr") {
        maps->services.for_each([&](const hl_service_key&, const hl_service& v) {
            if (auto r = maps->rr.lookup(v.id)) rows.push_back({{"key", v.id}, {"value", {{"next", r->next}}}});
        });
    } else if (alias == "service_stats") {
        maps->services.for_each([&](const hl_service_key&, const hl_service& v) {
            json cpus = json::array();
            for (const auto& s : maps->service_stats.lookup(v.id)) cpus.push_back(stats_entry(s));
            rows.push_back({{"key", v.id}, {"values", cpus}});
        });
    } else if (alias == "backend_stats") {
        maps->backends.for_each([&](uint32_t id, const hl_backend&) {
            json cpus = json::array();
            for (const auto& s : maps->backend_stats.lookup(id)) cpus.push_back({{"connections", s.connections}});
            rows.push_back({{"key", id}, {"values", cpus}});
        });
    } else if (alias == "affinity") {
        maps->affinity.for_each([&](const hl_affinity_key& key, const hl_affinity& v) {
            rows.push_back({{"key",
                             {{"netns_cookie", key.netns_cookie}, {"cgroup_id", key.cgroup_id},
                              {"service_id", key.service_id}}},
                            {"value", {{"backend_id", v.backend_id}, {"last_used_ns", v.last_used_ns}}}});
        });
    } else if (alias == "revnat") {
        maps->revnat.for_each([&](const hl_revnat_key& key, const hl_revnat& v) {
            rows.push_back({{"key", {{"cookie", key.cookie}, {"addr", addr_str(key.addr)}, {"port", ntohs(key.port)}}},
                            {"value",
                             {{"vip", addr_str(v.vip)}, {"vip_port", ntohs(v.vip_port)}, {"service_id", v.service_id},
                              {"backend_id", v.backend_id}}}});
        });
    } else if (alias == "service_meta") {
        maps->service_meta.for_each([&](uint32_t id, const hl_service_meta& m) {
            rows.push_back({{"key", id},
                            {"value",
                             {{"name", std::string(m.name, strnlen(m.name, HL_NAME_LEN))},
                              {"namespace", std::string(m.ns, strnlen(m.ns, HL_NAME_LEN))}}}});
        });
    } else if (alias == "namespaces") {
        maps->ns_meta.for_each([&](uint32_t id, const hl_ns_meta& m) {
            rows.push_back({{"key", id}, {"value", {{"name", std::string(m.name, strnlen(m.name, HL_NAME_LEN))}}}});
        });
    } else if (alias == "lifecycle" || alias == "gauges" || alias == "histograms") {
        maps->services.for_each([&](const hl_service_key&, const hl_service& v) {
            json cpus = json::array();
            if (alias == "lifecycle")
                for (const auto& c : maps->service_lc.lookup(v.id))
                    cpus.push_back({{"established", c.established},
                                    {"errors", errors_json(c.errors)},
                                    {"bytes_sent", c.bytes_sent},
                                    {"bytes_received", c.bytes_received},
                                    {"inbound", c.inbound},
                                    {"inbound_bytes_sent", c.inbound_bytes_sent},
                                    {"inbound_bytes_received", c.inbound_bytes_received},
                                    {"events_lost", c.events_lost}});
            else if (alias == "gauges")
                for (const auto& g : maps->service_gauge.lookup(v.id))
                    cpus.push_back({{"active", g.active}, {"inbound_active", g.inbound_active}});
            else
                for (const auto& h : maps->service_hist.lookup(v.id)) {
                    auto one = [](const hl_hist& x) {
                        return json{{"buckets", std::vector<uint64_t>(x.bucket, x.bucket + HL_HIST_BUCKETS)},
                                    {"sum_us", x.sum_us}};
                    };
                    cpus.push_back({{"connect", one(h.connect)}, {"rtt", one(h.rtt)}});
                }
            rows.push_back({{"key", v.id}, {"values", cpus}});
        });
    } else if (alias == "backend_live" || alias == "backend_lifecycle") {
        maps->backends.for_each([&](uint32_t id, const hl_backend&) {
            if (alias == "backend_live") {
                auto l = maps->backend_live.get(id);
                rows.push_back({{"key", id},
                                {"value", {{"active", l.active}, {"consecutive_failures", l.consecutive_failures}}}});
            } else {
                auto l = maps->backend_lc.get(id);
                rows.push_back({{"key", id},
                                {"value",
                                 {{"errors", errors_json(l.errors)},
                                  {"bytes_sent", l.bytes_sent},
                                  {"bytes_received", l.bytes_received}}}});
            }
        });
    } else if (alias == "endpoints") {
        maps->endpoints.for_each([&](const hl_endpoint_key& key, uint32_t sid) {
            rows.push_back({{"key", {{"addr", addr_str(key.addr)}, {"port", ntohs(key.port)}}},
                            {"value", {{"service_id", sid}}}});
        });
    } else if (alias == "trace_ctl") {
        if (auto c = maps->trace_ctl.lookup(0))
            rows.push_back({{"key", 0}, {"value", {{"until_ns", c->until_ns}, {"service_id", c->service_id}, {"pid", c->pid}}}});
    } else if (alias == "events" || alias == "trace") {
        return Error{"map " + alias + " is a ring buffer: its records are read as they come (hopless trace)", 0};
    } else {
        return Error{"map " + alias + " holds per-socket storage and cannot be dumped by key", 0};
    }
    std::string text;
    for (const auto& r : rows) text += r.dump() + "\n";
    if (rows.empty()) text = "(empty)\n";
    return Output{rows, text};
}

}  // namespace

Result<Output> cmd_prog(Context& ctx, Words args) {
    static const std::vector<Command> table = {{"show", prog_show}, {"list", prog_show}};
    return dispatch(ctx, args, table, kProgHelp);
}

Result<Output> cmd_map(Context& ctx, Words args) {
    static const std::vector<Command> table = {{"show", map_show}, {"list", map_show}, {"dump", map_dump}};
    return dispatch(ctx, args, table, kMapHelp);
}

}  // namespace hl::cli
