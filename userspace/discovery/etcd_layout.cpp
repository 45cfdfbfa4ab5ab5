#include "discovery/etcd_layout.h"

#include <nlohmann/json.hpp>

#include "discovery/config_file.h"
#include "discovery/service_json.h"
#include "model/validate.h"

namespace hl::etcd_layout {

namespace {

constexpr std::string_view kVersion = "v1";
// Values are flat objects; deeper nesting is refused before nlohmann parses
// it (no input from another host gets to recurse far).
constexpr int kMaxDepth = 4;
constexpr size_t kMaxValueBytes = 4096;
// A definition is what the control API takes (its body limit, its depth).
constexpr int kMaxServiceDepth = 16;
constexpr size_t kMaxServiceBytes = 1024 * 1024;

bool too_deep(std::string_view json, int max_depth = kMaxDepth) {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (char c : json) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') {
            if (++depth > max_depth) return true;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return false;
}

std::string join(std::string_view prefix, std::initializer_list<std::string_view> parts) {
    std::string k = normalize_prefix(prefix);
    if (k != "/") k += '/';
    k += kVersion;
    for (auto p : parts) {
        k += '/';
        k += p;
    }
    return k;
}

}  // namespace

std::string normalize_prefix(std::string_view prefix) {
    while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
    return std::string(prefix);
}

std::string root(std::string_view prefix) { return join(prefix, {}) + "/"; }
std::string endpoints_root(std::string_view prefix) { return join(prefix, {"endpoints"}) + "/"; }

std::string service_key(std::string_view prefix, std::string_view ns, std::string_view name) {
    return join(prefix, {"services", ns, name});
}

std::string endpoint_key(std::string_view prefix, std::string_view ns, std::string_view name, std::string_view host,
                         std::string_view id) {
    return join(prefix, {"endpoints", ns, name, host, id});
}

std::string host_key(std::string_view prefix, std::string_view host) { return join(prefix, {"hosts", host}); }

Result<Key> parse_key(std::string_view prefix, std::string_view key) {
    auto bad = [&](const std::string& why) {
        // The key as it is shown: cut, since it is another host's input.
        std::string shown(key.substr(0, 200));
        return Error{"etcd key '" + shown + "': " + why};
    };
    std::string r = root(prefix);
    if (!key.starts_with(r)) return bad("not under " + r);
    std::string_view rest = key.substr(r.size());
    std::vector<std::string> parts;
    while (true) {
        auto slash = rest.find('/');
        parts.emplace_back(rest.substr(0, slash));
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
        if (parts.size() > 6) return bad("too many segments");
    }
    auto name_ok = [&](size_t i, const char* what) -> std::optional<Error> {
        if (!valid_name(parts[i])) return bad(std::string(what) + " is not a name (1-63 of A-Z a-z 0-9 - _ .)");
        return std::nullopt;
    };
    const std::string& kind = parts[0];
    if (kind == "services") {
        if (parts.size() != 3) return bad("expected services/<namespace>/<name>");
        if (auto e = name_ok(1, "namespace")) return *e;
        if (auto e = name_ok(2, "name")) return *e;
        return Key{ServiceKey{parts[1], parts[2]}};
    }
    if (kind == "endpoints") {
        if (parts.size() != 5) return bad("expected endpoints/<namespace>/<name>/<host>/<id>");
        if (auto e = name_ok(1, "namespace")) return *e;
        if (auto e = name_ok(2, "name")) return *e;
        if (auto e = name_ok(3, "host")) return *e;
        if (!valid_endpoint_id(parts[4])) return bad("id is not an endpoint id (1-128 of A-Z a-z 0-9 . _ : - [ ])");
        return Key{EndpointKey{parts[1], parts[2], parts[3], parts[4]}};
    }
    if (kind == "hosts") {
        if (parts.size() != 2) return bad("expected hosts/<host>");
        if (auto e = name_ok(1, "host")) return *e;
        return Key{HostKey{parts[1]}};
    }
    return bad("unknown kind '" + kind.substr(0, 32) + "' (expected services, endpoints or hosts)");
}

std::string endpoint_value(const EndpointValue& v) {
    nlohmann::json j = {{"address", v.address.to_string()}, {"port", v.port}, {"weight", v.weight}};
    return j.dump();
}

Result<EndpointValue> parse_endpoint_value(std::string_view json) {
    auto bad = [](const std::string& why) { return Error{"endpoint value: " + why}; };
    if (json.size() > kMaxValueBytes) return bad("longer than " + std::to_string(kMaxValueBytes) + " bytes");
    if (too_deep(json)) return bad("nested deeper than " + std::to_string(kMaxDepth));
    auto j = nlohmann::json::parse(json, nullptr, false);
    if (j.is_discarded()) return bad("not JSON");
    if (!j.is_object()) return bad("not a JSON object");
    EndpointValue v;
    auto a = j.find("address");
    if (a == j.end() || !a->is_string()) return bad("address: missing or not a string");
    auto addr = IpAddress::parse(a->get<std::string>());
    if (!addr) return bad("address: '" + a->get<std::string>().substr(0, 64) + "' is not an IP address");
    v.address = *addr;
    auto p = j.find("port");
    if (p == j.end() || !p->is_number_integer()) return bad("port: missing or not an integer");
    auto port = p->get<int64_t>();
    if (port < 1 || port > 65535) return bad("port: " + std::to_string(port) + " is not a port (1-65535)");
    v.port = static_cast<uint16_t>(port);
    if (auto w = j.find("weight"); w != j.end()) {
        if (!w->is_number_integer()) return bad("weight: not an integer");
        auto weight = w->get<int64_t>();
        if (weight < 0 || weight > 65535) return bad("weight: " + std::to_string(weight) + " is out of range (0-65535)");
        v.weight = static_cast<uint16_t>(weight);
    }
    return v;
}

std::string service_value(const Service& s) { return service_to_json(s).dump(); }

Result<Service> parse_service_value(std::string_view json, const ServiceKey& key) {
    auto bad = [](const std::string& why) { return Error{"service value: " + why}; };
    if (json.size() > kMaxServiceBytes) return bad("longer than " + std::to_string(kMaxServiceBytes) + " bytes");
    if (too_deep(json, kMaxServiceDepth)) return bad("nested deeper than " + std::to_string(kMaxServiceDepth));
    auto j = nlohmann::json::parse(json, nullptr, false);
    if (j.is_discarded()) return bad("not JSON");
    if (!j.is_object()) return bad("not a JSON object");
    // The key names the service; a value that names another is refused.
    for (auto [field, want] : {std::pair<const char*, const std::string*>{"namespace", &key.ns}, {"name", &key.name}}) {
        auto v = j.find(field);
        if (v == j.end()) {
            j[field] = *want;
        } else if (!v->is_string() || v->get_ref<const std::string&>() != *want) {
            return bad(std::string(field) + ": " + v->dump().substr(0, 64) + " is not the key's '" + *want + "'");
        }
    }
    // JSON is YAML: the config file's own parser and checks.
    auto s = parse_service_item(j.dump());
    if (!s) return bad(s.error().what());
    return s;
}

}  // namespace hl::etcd_layout
