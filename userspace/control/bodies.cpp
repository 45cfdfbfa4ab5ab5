#include "control/bodies.h"

#include <set>
#include <vector>

#include "discovery/config_file.h"
#include "model/validate.h"

namespace hl::control {

using nlohmann::json;

namespace {

Error field_error(const std::string& field, const std::string& what) { return Error{field + ": " + what, 0}; }

// The keys of `obj` must all be in `allowed`.
Status known_keys(const json& obj, std::initializer_list<const char*> allowed, const char* hint = nullptr) {
    for (const auto& [k, v] : obj.items()) {
        bool ok = false;
        for (const char* a : allowed) ok |= k == a;
        if (ok) continue;
        std::string list;
        for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
        return field_error(k, hint ? std::string("unknown key (") + hint + ")"
                                   : "unknown key (expected one of: " + list + ")");
    }
    return ok_status();
}

Result<json> object_body(std::string_view text) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
        return Error{"body: missing (expected a JSON object)", 0};
    auto j = parse_json_body(text);
    if (!j) return j.error();
    if (!j->is_object()) return Error{"body: expected a JSON object, got " + show_json(*j), 0};
    return j;
}

// An integer field in [lo, hi]; `what` names the kind ("a port").
Result<int64_t> integer(const json& v, const std::string& field, int64_t lo, int64_t hi, const char* what) {
    std::string range = " (" + std::to_string(lo) + "-" + std::to_string(hi) + ")";
    if (!v.is_number_integer()) return field_error(field, "expected an integer" + range + ", got " + show_json(v));
    // A huge unsigned value does not fit int64: it is out of range either way.
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
        return field_error(field, show_json(v) + " is not " + what + range);
    int64_t n = v.get<int64_t>();
    if (n < lo || n > hi) return field_error(field, std::to_string(n) + " is not " + what + range);
    return n;
}

Result<IpAddress> backend_address(const json& v, const std::string& field) {
    if (!v.is_string()) return field_error(field, "expected a string (an IPv4 or IPv6 address), got " + show_json(v));
    const auto& s = v.get_ref<const std::string&>();
    auto a = IpAddress::parse(s);
    if (!a) return field_error(field, show_json(v) + " is not an IPv4 or IPv6 address");
    // A backend is one host: the wildcard, multicast and broadcast addresses
    // would each send a task's connect somewhere it did not mean.
    const auto& b = a->bytes();
    bool unspecified = a->is_v4() ? a->v4_host_order() == 0 : b == std::array<uint8_t, 16>{};
    bool multicast = a->is_v4() ? (a->v4_host_order() >> 28) == 0xe : b[0] == 0xff;
    bool broadcast = a->is_v4() && a->v4_host_order() == 0xffffffffu;
    if (unspecified || multicast || broadcast)
        return field_error(field, show_json(v) + " is not a host address (unspecified, multicast or broadcast)");
    return *a;
}

}  // namespace

std::string show_json(const json& v) {
    // Strings as the config's messages show them ('web'); anything else, or
    // a string with bytes a terminal should not see, as JSON.
    std::string s;
    bool plain = v.is_string();
    if (plain)
        for (unsigned char c : v.get_ref<const std::string&>()) plain &= c >= 0x20 && c < 0x7f && c != '\'';
    s = plain ? "'" + v.get<std::string>() + "'" : v.dump(-1, ' ', true, json::error_handler_t::replace);
    if (s.size() > 64) s = s.substr(0, 61) + "...";
    return s;
}

Result<json> parse_json_body(std::string_view text) {
    // Duplicate keys: nlohmann keeps the last silently; a body that says a
    // thing twice is an error here, as in the config file.
    std::vector<std::set<std::string>> keys;
    std::string duplicate;
    bool too_deep = false;
    json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
        if (depth > kMaxJsonDepth) {
            too_deep = true;
            return false;
        }
        switch (ev) {
            case json::parse_event_t::object_start: keys.emplace_back(); break;
            case json::parse_event_t::object_end:
                if (!keys.empty()) keys.pop_back();
                break;
            case json::parse_event_t::key:
                if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second && duplicate.empty())
                    duplicate = parsed.get<std::string>();
                break;
            default: break;
        }
        return true;
    };
    json j;
    try {
        j = json::parse(text.begin(), text.end(), cb);
    } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e400
        std::string what = e.what();
        // "[json.exception.parse_error.101] parse error at ...": keep the words.
        if (auto p = what.find("] "); p != std::string::npos) what.erase(0, p + 2);
        return Error{"body: not JSON: " + what, 0};
    }
    if (too_deep) return Error{"body: nested deeper than " + std::to_string(kMaxJsonDepth) + " levels", 0};
    if (!duplicate.empty()) return Error{duplicate + ": key given twice", 0};
    return j;
}

bool is_empty_body(std::string_view text) {
    std::string squeezed;
    for (char c : text)
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') squeezed += c;
    return squeezed.empty() || squeezed == "{}";
}

Result<EndpointSpec> parse_endpoint_body(std::string_view text) {
    auto j = object_body(text);
    if (!j) return j.error();
    if (auto st = known_keys(*j, {"address", "port", "weight", "ttl"}); !st) return st.error();
    EndpointSpec spec;
    if (!j->contains("address")) return field_error("address", "missing");
    auto a = backend_address((*j)["address"], "address");
    if (!a) return a.error();
    spec.address = *a;
    if (!j->contains("port")) return field_error("port", "missing");
    auto p = integer((*j)["port"], "port", 1, 65535, "a port");
    if (!p) return p.error();
    spec.port = static_cast<uint16_t>(*p);
    if (j->contains("weight")) {
        auto w = integer((*j)["weight"], "weight", 0, 65535, "a weight");
        if (!w) return w.error();
        spec.weight = static_cast<uint16_t>(*w);
    }
    if (j->contains("ttl") && !(*j)["ttl"].is_null()) {
        auto t = integer((*j)["ttl"], "ttl", 1, kMaxTtlSeconds, "a ttl in seconds");
        if (!t) return t.error();
        spec.ttl_s = static_cast<uint32_t>(*t);
    }
    return spec;
}

Result<CgroupSpec> parse_cgroup_body(std::string_view text, bool attach) {
    auto j = object_body(text);
    if (!j) return j.error();
    auto st = attach ? known_keys(*j, {"cgroup", "pid", "namespace"})
                     : known_keys(*j, {"cgroup", "pid"}, "detach takes cgroup or pid");
    if (!st) return st.error();
    CgroupSpec spec;
    bool has_cgroup = j->contains("cgroup"), has_pid = j->contains("pid");
    if (has_cgroup == has_pid)
        return Error{std::string("body: give exactly one of cgroup (a path) and pid") +
                         (has_cgroup ? ", not both" : ", got neither"),
                     0};
    if (has_cgroup) {
        const json& v = (*j)["cgroup"];
        if (!v.is_string()) return field_error("cgroup", "expected a string (a cgroup path), got " + show_json(v));
        const auto& s = v.get_ref<const std::string&>();
        if (s.empty() || s.size() > 4095 || s.find('\0') != std::string::npos)
            return field_error("cgroup", show_json(v) + " is not a cgroup path");
        spec.cgroup = s;
    } else {
        auto p = integer((*j)["pid"], "pid", 1, kMaxPid, "a pid");
        if (!p) return p.error();
        spec.pid = static_cast<pid_t>(*p);
    }
    if (j->contains("namespace")) {
        const json& v = (*j)["namespace"];
        if (!v.is_string()) return field_error("namespace", "expected a string, got " + show_json(v));
        if (!valid_name(v.get<std::string>()))
            return field_error("namespace", show_json(v) + " is not a name (1-63 of A-Z a-z 0-9 - _ .)");
        spec.ns = v.get<std::string>();
    }
    return spec;
}

Result<Service> parse_service_body(std::string_view text, const std::string& ns, const std::string& name) {
    auto j = object_body(text);
    if (!j) return j.error();
    for (auto [key, want] : {std::pair<const char*, const std::string*>{"namespace", &ns}, {"name", &name}}) {
        if (!j->contains(key)) {
            (*j)[key] = *want;
            continue;
        }
        const json& v = (*j)[key];
        if (!v.is_string()) return field_error(key, "expected a string, got " + show_json(v));
        if (v.get_ref<const std::string&>() != *want)
            return field_error(key, show_json(v) + " is not the path's '" + *want + "'");
    }
    // parse_service_item reads YAML, and JSON is YAML: one parser, one set
    // of checks and messages for the file, `service apply` and the API.
    auto s = parse_service_item(j->dump());
    if (!s) return s.error();
    return s;
}

}  // namespace hl::control
