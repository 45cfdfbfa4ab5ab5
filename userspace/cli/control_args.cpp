#include "cli/control_args.h"

#include "cli/args.h"
#include "control/bodies.h"
#include "control/path.h"
#include "model/validate.h"

namespace hl::cli {

namespace {

// A decimal number in [lo, hi]; `what` names the kind ("a port").
Result<int64_t> number(const std::string& text, const std::string& field, int64_t lo, int64_t hi, const char* what) {
    std::string range = " (" + std::to_string(lo) + "-" + std::to_string(hi) + ")";
    bool digits = !text.empty() && text.size() <= 10 && text.find_first_not_of("0123456789") == std::string::npos;
    int64_t n = digits ? std::stoll(text) : -1;
    if (!digits || n < lo || n > hi) return Error{field + ": '" + text + "' is not " + what + range, 0};
    return n;
}

const std::string* find(const std::vector<std::pair<std::string, std::string>>& pairs, const std::string& key) {
    for (const auto& [k, v] : pairs)
        if (k == key) return &v;
    return nullptr;
}

std::string name_rule() { return " is not a name (1-63 of A-Z a-z 0-9 - _ .)"; }

}  // namespace

Result<ServiceRef> parse_service_ref(const std::string& text) {
    ServiceRef ref;
    ref.text = text;
    if (auto colon = text.rfind(':'); colon != std::string::npos) {
        auto addr = IpAddress::parse(text.substr(0, colon));
        if (addr) {
            auto port = number(text.substr(colon + 1), "service '" + text + "'", 1, 65535, "VIP:PORT with a port");
            if (!port) return port.error();
            ref.vip = *addr;
            ref.port = static_cast<uint16_t>(*port);
            return ref;
        }
    }
    if (auto slash = text.find('/'); slash != std::string::npos) {
        ref.ns = text.substr(0, slash);
        ref.name = text.substr(slash + 1);
        if (!valid_name(ref.ns)) return Error{"service '" + text + "': namespace '" + ref.ns + "'" + name_rule(), 0};
    } else {
        ref.name = text;
    }
    if (!valid_name(ref.name))
        return Error{"service '" + text + "': '" + ref.name + "'" + name_rule() +
                         "; SERVICE is NAME, NAMESPACE/NAME or VIP:PORT",
                     0};
    return ref;
}

Result<std::pair<std::string, std::string>> resolve_service(const ServiceRef& ref, const nlohmann::json* services) {
    if (!ref.ns.empty()) return std::pair{ref.ns, ref.name};
    const nlohmann::json* list = nullptr;
    if (services && services->is_object() && services->contains("services") && (*services)["services"].is_array())
        list = &(*services)["services"];
    if (!list) return Error{"cannot resolve service '" + ref.text + "': hoplessd did not list its services", 0};
    std::vector<std::pair<std::string, std::string>> hits;
    for (const auto& s : *list) {
        if (!s.is_object()) continue;
        std::string ns = s.value("namespace", ""), name = s.value("name", "");
        bool match = false;
        if (ref.vip) {
            auto vip = s.contains("vip") && s["vip"].is_string() ? IpAddress::parse(s["vip"].get<std::string>())
                                                                  : std::nullopt;
            match = vip && *vip == *ref.vip && s.value("port", 0) == ref.port;
        } else {
            match = name == ref.name;
        }
        if (match) hits.emplace_back(ns, name);
    }
    if (hits.size() == 1) return hits[0];
    if (hits.empty()) {
        if (ref.vip) return Error{"no service at " + ref.text, 0};
        return std::pair<std::string, std::string>{"default", ref.name};
    }
    std::string all;
    for (const auto& [ns, name] : hits) all += (all.empty() ? "" : ", ") + ns + "/" + name;
    return Error{"'" + ref.text + "' names several services: " + all + " (use NAMESPACE/NAME)", 0};
}

nlohmann::json RegisterArgs::body() const {
    nlohmann::json j{{"address", address.to_string()}, {"port", port}};
    if (weight) j["weight"] = *weight;
    if (ttl_s) j["ttl"] = *ttl_s;
    return j;
}

Result<RegisterArgs> parse_register_args(std::span<const std::string> words) {
    if (words.empty())
        return Error{"endpoint register needs SERVICE address ADDR port PORT [id ID] [weight W] [ttl SECONDS]", 0};
    auto pairs = parse_pairs(words.subspan(1), {"address", "port", "id", "weight", "ttl"});
    if (!pairs) return pairs.error();
    RegisterArgs a;
    a.service = words[0];
    const std::string* addr = find(*pairs, "address");
    const std::string* port = find(*pairs, "port");
    if (!addr || !port) return Error{"endpoint register needs 'address ADDR' and 'port PORT'", 0};
    auto ip = IpAddress::parse(*addr);
    if (!ip) return Error{"address: '" + *addr + "' is not an IPv4 or IPv6 address", 0};
    a.address = *ip;
    auto p = number(*port, "port", 1, 65535, "a port");
    if (!p) return p.error();
    a.port = static_cast<uint16_t>(*p);
    if (auto* w = find(*pairs, "weight")) {
        auto n = number(*w, "weight", 0, 65535, "a weight");
        if (!n) return n.error();
        a.weight = static_cast<uint16_t>(*n);
    }
    if (auto* t = find(*pairs, "ttl")) {
        auto n = number(*t, "ttl", 1, control::kMaxTtlSeconds, "a ttl in seconds");
        if (!n) return n.error();
        a.ttl_s = static_cast<uint32_t>(*n);
    }
    a.id = a.address.with_port(a.port);
    if (auto* id = find(*pairs, "id")) {
        if (!control::valid_endpoint_id(*id))
            return Error{"id: '" + *id + "' is not an endpoint id (1-128 of A-Z a-z 0-9 . _ : - [ ])", 0};
        a.id = *id;
    }
    return a;
}

Result<EndpointIdArgs> parse_endpoint_id_args(std::span<const std::string> words, const std::string& what) {
    if (words.empty()) return Error{"endpoint " + what + " needs SERVICE id ID", 0};
    auto pairs = parse_pairs(words.subspan(1), {"id"});
    if (!pairs) return pairs.error();
    if (pairs->empty()) return Error{"endpoint " + what + " needs 'id ID'", 0};
    const std::string& id = (*pairs)[0].second;
    if (!control::valid_endpoint_id(id))
        return Error{"id: '" + id + "' is not an endpoint id (1-128 of A-Z a-z 0-9 . _ : - [ ])", 0};
    return EndpointIdArgs{words[0], id};
}

nlohmann::json CgroupArgs::body() const {
    nlohmann::json j = nlohmann::json::object();
    if (path) j["cgroup"] = *path;
    if (pid) j["pid"] = *pid;
    if (ns) j["namespace"] = *ns;
    return j;
}

Result<CgroupArgs> parse_cgroup_args(std::span<const std::string> words, bool attach) {
    std::string usage = attach ? "cgroup attach { PATH | pid PID } [namespace NS]" : "cgroup detach { PATH | pid PID }";
    if (words.empty()) return Error{usage + ": PATH or pid PID missing", 0};
    CgroupArgs a;
    size_t rest = 1;
    if (words[0] == "pid") {
        if (words.size() < 2) return Error{"'pid' needs a value", 0};
        auto n = number(words[1], "pid", 1, control::kMaxPid, "a pid");
        if (!n) return n.error();
        a.pid = static_cast<int>(*n);
        rest = 2;
    } else {
        if (words[0].empty()) return Error{usage + ": PATH is empty", 0};
        a.path = words[0];
    }
    auto more = words.subspan(rest);
    if (!attach) {
        if (!more.empty()) return Error{"unexpected '" + more[0] + "' (" + usage + ")", 0};
        return a;
    }
    auto pairs = parse_pairs(more, {"namespace"});
    if (!pairs) return pairs.error();
    if (!pairs->empty()) {
        const std::string& ns = (*pairs)[0].second;
        if (!valid_name(ns)) return Error{"namespace: '" + ns + "'" + name_rule(), 0};
        a.ns = ns;
    }
    return a;
}

}  // namespace hl::cli
