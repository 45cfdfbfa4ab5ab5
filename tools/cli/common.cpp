#include <algorithm>
#include <cstdio>

#include "cli.h"

namespace hl::cli {

Result<Output> dispatch(Context& ctx, Words args, const std::vector<Command>& table, const char* help_text) {
    if (args.empty()) return table.front().run(ctx, args);
    std::vector<std::string> keys;
    for (const auto& c : table) keys.push_back(c.keyword);
    keys.push_back("help");
    auto k = match_keyword(args[0], keys);
    if (!k) return k.error();
    if (*k == table.size()) return Output{json{{"help", help_text}}, help_text};
    return table[*k].run(ctx, args.subspan(1));
}

std::string Table::str() const {
    std::vector<size_t> w;
    for (const auto& r : rows_)
        for (size_t i = 0; i < r.size(); ++i) {
            if (w.size() <= i) w.push_back(0);
            w[i] = std::max(w[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows_) {
        std::string line;
        for (size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 2, ' ');
        }
        out += line + "\n";
    }
    return out;
}

Result<MapSet> open_maps(const Context& ctx) { return MapSet::open_pinned(ctx.opts.pin_dir); }

Result<const ServiceView*> find_service(const Inventory& inv, const std::string& what) {
    // VIP:PORT first: a name never contains ':' ... but an IPv6 VIP does.
    auto colon = what.rfind(':');
    if (colon != std::string::npos) {
        auto addr = IpAddress::parse(what.substr(0, colon));
        int port = -1;
        try {
            port = std::stoi(what.substr(colon + 1));
        } catch (...) {
        }
        if (addr && port > 0) {
            for (const auto& s : inv.services)
                if (s.vip == *addr && s.port == port) return &s;
            return Error{"no service at " + what, 0};
        }
    }
    std::string ns, name = what;
    if (auto slash = what.find('/'); slash != std::string::npos) {
        ns = what.substr(0, slash);
        name = what.substr(slash + 1);
    }
    std::vector<const ServiceView*> hits;
    for (const auto& s : inv.services)
        if (s.name == name && (ns.empty() || s.ns == ns)) hits.push_back(&s);
    if (hits.size() == 1) return hits[0];
    if (hits.empty()) return Error{"no service '" + what + "'", 0};
    std::string list;
    for (auto* s : hits) list += (list.empty() ? "" : ", ") + s->ns + "/" + s->name;
    return Error{"'" + what + "' names services in several namespaces: " + list + " (use NAMESPACE/NAME)", 0};
}

json stats_json(const hl_service_stats& s) {
    return json{{"connections", s.connections},         {"no_backend", s.no_backend},
                {"udp_translations", s.udp_translations}, {"revnat_stale", s.revnat_stale},
                {"affinity_hits", s.affinity_hits},       {"bind_rejects", s.bind_rejects},
                {"sockets_destroyed", s.sockets_destroyed}};
}

std::string human(double v) {
    static const char* units[] = {"", "k", "M", "G", "T", "P"};
    int u = 0;
    while (v >= 1000 && u < 5) {
        v /= 1000;
        ++u;
    }
    char buf[32];
    if (u == 0) std::snprintf(buf, sizeof buf, "%.0f", v);
    else std::snprintf(buf, sizeof buf, v < 10 ? "%.1f%s" : "%.0f%s", v, units[u]);
    return buf;
}

json lifecycle_json(const ServiceView& s, bool with_histograms) {
    auto hist = [](const hl_hist& h) {
        json buckets = json::array();
        uint64_t n = 0;
        for (int i = 0; i < HL_HIST_BUCKETS; ++i) {
            n += h.bucket[i];
            buckets.push_back({{"le_us", i + 1 < HL_HIST_BUCKETS ? json(HL_HIST_BOUND_US(i)) : json("+Inf")},
                               {"count", n}});
        }
        return json{{"count", n}, {"sum_us", h.sum_us}, {"buckets", buckets}};
    };
    json j{{"active", s.gauge.active},
           {"established", s.lc.established},
           {"errors", errors_json(s.lc.errors)},
           {"bytes_sent", s.lc.bytes_sent},
           {"bytes_received", s.lc.bytes_received},
           {"inbound", {{"connections", s.lc.inbound},
                        {"active", s.gauge.inbound_active},
                        {"bytes_sent", s.lc.inbound_bytes_sent},
                        {"bytes_received", s.lc.inbound_bytes_received}}}};
    if (with_histograms) {
        j["connect_duration"] = hist(s.hist.connect);
        j["rtt"] = hist(s.hist.rtt);
    }
    return j;
}

json errors_json(const __u64 (&errors)[HL_REASONS]) {
    return json{{"refused", errors[HL_REASON_REFUSED - 1]},
                {"timeout", errors[HL_REASON_TIMEOUT - 1]},
                {"reset", errors[HL_REASON_RESET - 1]},
                {"other", errors[HL_REASON_OTHER - 1]}};
}

json backend_lifecycle_json(const BackendView& b) {
    return json{{"active", b.live.active},
                {"consecutive_failures", b.live.consecutive_failures},
                {"errors", errors_json(b.lc.errors)},
                {"bytes_sent", b.lc.bytes_sent},
                {"bytes_received", b.lc.bytes_received}};
}

json service_json(const ServiceView& s, bool with_backends) {
    json j{{"id", s.id},
           {"namespace", s.ns},
           {"name", s.name},
           {"vip", s.vip.to_string()},
           {"port", s.port},
           {"protocol", to_string(s.protocol)},
           {"algorithm", to_string(s.algorithm)},
           {"generation", s.generation},
           {"slots", s.slot_count},
           {"affinity_timeout", s.affinity_timeout_s},
           {"drain_timeout", s.drain_timeout_s},
           {"prefer", to_string(s.prefer)},
           {"connect_timeout_ms", s.connect_timeout_ms},
           {"stats", stats_json(s.stats)}};
    // prefer: local: whose backends the table in force holds.
    if (s.prefer == Prefer::Local) j["table"] = s.local_table ? "local" : "all";
    // The histograms only for one service (show): a list of 65,536 stays small.
    if (s.protocol == Protocol::Tcp) j["lifecycle"] = lifecycle_json(s, with_backends);
    if (with_backends) {
        json bs = json::array();
        for (const auto& b : s.backends)
            bs.push_back({{"id", b.id},
                          {"address", b.spec.address.to_string()},
                          {"port", b.spec.port},
                          {"weight", b.spec.weight},
                          {"state", to_string(b.spec.state)},
                          {"local", !b.spec.remote},
                          {"slots", b.slots},
                          {"connections", b.connections},
                          {"lifecycle", backend_lifecycle_json(b)}});
        j["backends"] = bs;
    } else {
        size_t active = std::count_if(s.backends.begin(), s.backends.end(),
                                      [](auto& b) { return b.spec.state == BackendState::Active && b.spec.weight > 0; });
        j["backends"] = s.backends.size();
        j["active_backends"] = active;
    }
    return j;
}

}  // namespace hl::cli
