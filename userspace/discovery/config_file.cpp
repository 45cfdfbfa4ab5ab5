#include "discovery/config_file.h"

#include <yaml-cpp/exceptions.h>

#include <charconv>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

#include "discovery/yaml_tree.h"
#include "model/validate.h"

namespace hl {
namespace {

// Walks the YAML tree collecting every problem with its path, so one run of
// the parser reports all of them and nothing half-parsed escapes.
class Reader {
public:
    std::vector<std::string> errors;

    void fail(const std::string& path, const std::string& what) { errors.push_back(path + ": " + what); }

    static std::string show(const YamlNode& n) {
        if (n.is_scalar()) return "'" + n.scalar() + "'";
        if (n.is_sequence()) return "a list";
        if (n.is_map()) return "a mapping";
        return "nothing";
    }

    bool expect_map(const YamlNode& n, const std::string& path, std::initializer_list<const char*> keys) {
        if (!n.is_map()) {
            fail(path, "expected a mapping, got " + show(n));
            return false;
        }
        std::set<std::string> allowed(keys.begin(), keys.end()), seen;
        for (size_t i = 0; i < n.size(); ++i) {
            std::string k = n.key(i).is_scalar() ? n.key(i).scalar() : "?";
            // Both pairs are kept and n[k] reads the first: the other would be silently ignored.
            if (!seen.insert(k).second) fail(path.empty() ? k : path + "." + k, "key given twice");
            if (!allowed.count(k)) {
                std::string list;
                for (auto* a : keys) list += std::string(list.empty() ? "" : ", ") + a;
                fail(path.empty() ? k : path + "." + k, "unknown key (expected one of: " + list + ")");
            }
        }
        return true;
    }

    std::optional<std::string> str(const YamlNode& n, const std::string& path) {
        if (!n.is_scalar()) {
            fail(path, "expected a string, got " + show(n));
            return std::nullopt;
        }
        return n.scalar();
    }

    std::optional<uint64_t> uint(const YamlNode& n, const std::string& path, uint64_t lo, uint64_t hi,
                                 const char* what) {
        std::string range = " (" + std::to_string(lo) + "-" + std::to_string(hi) + ")";
        if (!n.is_scalar()) {
            fail(path, "expected " + std::string(what) + range + ", got " + show(n));
            return std::nullopt;
        }
        const std::string& s = n.scalar();
        uint64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) {
            fail(path, "'" + s + "' is not " + what + range);
            return std::nullopt;
        }
        return v;
    }

    std::optional<IpAddress> address(const YamlNode& n, const std::string& path) {
        auto s = str(n, path);
        if (!s) return std::nullopt;
        auto a = IpAddress::parse(*s);
        if (!a) fail(path, "'" + *s + "' is not an IPv4 or IPv6 address");
        return a;
    }

    Backend backend(const YamlNode& n, const std::string& path) {
        Backend b;
        if (!expect_map(n, path, {"address", "port", "weight", "state"})) return b;
        if (!n["address"]) fail(path + ".address", "missing");
        else if (auto a = address(n["address"], path + ".address")) b.address = *a;
        if (!n["port"]) fail(path + ".port", "missing");
        else if (auto p = uint(n["port"], path + ".port", 1, 65535, "a port")) b.port = static_cast<uint16_t>(*p);
        if (n["weight"])
            if (auto w = uint(n["weight"], path + ".weight", 0, 65535, "a weight")) b.weight = static_cast<uint16_t>(*w);
        if (n["state"]) {
            if (auto s = str(n["state"], path + ".state")) {
                auto st = parse_backend_state(*s);
                if (!st || *st == BackendState::Quarantined)
                    fail(path + ".state", "'" + *s + "' is not a backend state (active, draining)");
                else
                    b.state = *st;
            }
        }
        return b;
    }

    Service service(const YamlNode& n, const std::string& path) {
        Service s;
        if (!expect_map(n, path, {"name", "namespace", "vip", "port", "protocol", "algorithm", "backends", "affinity",
                                  "drain_timeout"}))
            return s;
        if (!n["name"]) fail(path + ".name", "missing");
        else if (auto v = str(n["name"], path + ".name")) s.name = *v;
        if (n["namespace"])
            if (auto v = str(n["namespace"], path + ".namespace")) s.ns = *v;
        if (n["vip"]) s.vip = address(n["vip"], path + ".vip");
        if (!n["port"]) fail(path + ".port", "missing");
        else if (auto p = uint(n["port"], path + ".port", 1, 65535, "a port")) s.port = static_cast<uint16_t>(*p);
        if (n["protocol"])
            if (auto v = str(n["protocol"], path + ".protocol")) {
                if (auto p = parse_protocol(*v)) s.protocol = *p;
                else fail(path + ".protocol", "'" + *v + "' is not a protocol (tcp, udp)");
            }
        if (n["algorithm"])
            if (auto v = str(n["algorithm"], path + ".algorithm")) {
                if (auto a = parse_algorithm(*v)) s.algorithm = *a;
                else fail(path + ".algorithm", "'" + *v + "' is not an algorithm (random, round_robin, weighted)");
            }
        if (n["affinity"]) {
            const auto& a = n["affinity"];
            if (expect_map(a, path + ".affinity", {"timeout"})) {
                if (!a["timeout"]) fail(path + ".affinity.timeout", "missing");
                else if (auto t = uint(a["timeout"], path + ".affinity.timeout", 1, 86400 * 7, "a timeout in seconds"))
                    s.affinity_timeout_s = static_cast<uint32_t>(*t);
            }
        }
        if (n["drain_timeout"])
            if (auto t = uint(n["drain_timeout"], path + ".drain_timeout", 0, 86400 * 7, "a timeout in seconds"))
                s.drain_timeout_s = static_cast<uint32_t>(*t);
        if (n["backends"]) {
            const auto& bs = n["backends"];
            if (bs.is_null()) {
            } else if (!bs.is_sequence()) {
                fail(path + ".backends", "expected a list, got " + show(bs));
            } else {
                for (size_t i = 0; i < bs.size(); ++i)
                    s.backends.push_back(backend(bs[i], path + ".backends[" + std::to_string(i) + "]"));
            }
        }
        return s;
    }

    Config config(const YamlNode& root, const CgroupCheck& check_cgroup, Reader& items) {
        Config c;
        if (root.is_null()) {
            fail("services", "missing (the file is empty)");
            return c;
        }
        if (!expect_map(root, "", {"pin_dir", "state_dir", "vip_pool", "metrics", "control", "attach", "services", "maps"})) return c;
        if (root["pin_dir"])
            if (auto v = str(root["pin_dir"], "pin_dir")) {
                if (v->empty() || (*v)[0] != '/') fail("pin_dir", "'" + *v + "' is not an absolute path");
                else c.pin_dir = *v;
            }
        if (root["state_dir"])
            if (auto v = str(root["state_dir"], "state_dir")) {
                if (v->empty() || (*v)[0] != '/') fail("state_dir", "'" + *v + "' is not an absolute path");
                else c.state_dir = *v;
            }
        if (root["vip_pool"])
            if (auto v = str(root["vip_pool"], "vip_pool")) {
                if (auto p = IpPrefix::parse(*v)) c.vip_pool = *p;
                else fail("vip_pool", "'" + *v + "' is not an address prefix such as 127.255.0.0/16");
            }
        if (root["metrics"]) {
            const auto& m = root["metrics"];
            if (expect_map(m, "metrics", {"listen"}) && m["listen"])
                if (auto v = str(m["listen"], "metrics.listen")) {
                    auto colon = v->rfind(':');
                    uint16_t port = 0;
                    auto ps = colon == std::string::npos ? std::string() : v->substr(colon + 1);
                    auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
                    if (colon == std::string::npos || ec != std::errc() || p != ps.data() + ps.size() ||
                        !IpAddress::parse(v->substr(0, colon)))
                        fail("metrics.listen", "'" + *v + "' is not ADDRESS:PORT");
                    else
                        c.metrics_listen = *v;
                }
        }
        if (root["control"]) {
            const auto& m = root["control"];
            if (expect_map(m, "control", {"socket"}) && m["socket"])
                if (auto v = str(m["socket"], "control.socket")) c.control_socket = *v;
        }
        if (root["maps"]) {
            const auto& m = root["maps"];
            if (expect_map(m, "maps", {"max_services", "max_backends"})) {
                if (m["max_services"])
                    if (auto v = uint(m["max_services"], "maps.max_services", 16, 1u << 22, "a map size"))
                        c.maps.max_services = static_cast<uint32_t>(*v);
                if (m["max_backends"])
                    if (auto v = uint(m["max_backends"], "maps.max_backends", 16, 1u << 24, "a map size"))
                        c.maps.max_backends = static_cast<uint32_t>(*v);
            }
        }
        if (root["attach"]) {
            const auto& as = root["attach"];
            if (!as.is_sequence() && !as.is_null()) fail("attach", "expected a list, got " + show(as));
            else
                for (size_t i = 0; i < as.size(); ++i) {
                    std::string path = "attach[" + std::to_string(i) + "]";
                    Attachment a;
                    if (!expect_map(as[i], path, {"cgroup", "namespace"})) continue;
                    if (!as[i]["cgroup"]) fail(path + ".cgroup", "missing");
                    else if (auto v = str(as[i]["cgroup"], path + ".cgroup")) {
                        a.cgroup = *v;
                        if (check_cgroup)
                            if (auto err = check_cgroup(*v)) fail(path + ".cgroup", "'" + *v + "' " + *err);
                    }
                    if (as[i]["namespace"])
                        if (auto v = str(as[i]["namespace"], path + ".namespace")) a.ns = *v;
                    c.attach.push_back(a);
                }
        }
        if (!root["services"]) fail("services", "missing");
        else {
            const auto& ss = root["services"];
            if (!ss.is_sequence() && !ss.is_null()) fail("services", "expected a list, got " + show(ss));
            else if (ss.streamed()) {
                c.services = std::move(items.streamed);
                errors.insert(errors.end(), items.errors.begin(), items.errors.end());
            } else
                for (size_t i = 0; i < ss.size(); ++i)
                    c.services.push_back(service(ss[i], "services[" + std::to_string(i) + "]"));
        }
        return c;
    }

    // services: items as the parser hands them over (YamlItemSink), each
    // read and dropped at once; config() takes them, and their errors, here.
    std::vector<Service> streamed;
    void stream_service(const YamlNode& n, size_t i) {
        streamed.push_back(service(n, "services[" + std::to_string(i) + "]"));
    }
};

Error joined(const std::vector<std::string>& errors) {
    std::string msg = "invalid config: ";
    for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "; " : "") + errors[i];
    return Error{msg, 0};
}

// Streams: the file is never held whole, nor is its services: list as a tree.
Result<Config> parse_stream(std::istream& in, const CgroupCheck& check_cgroup) {
    Reader r, items;
    YamlNode root;
    try {
        root = load_yaml(in, {"services", [&](const YamlNode& n, size_t i) { items.stream_service(n, i); }});
    } catch (const YAML::Exception& e) {
        return Error{"invalid config: YAML syntax error at line " + std::to_string(e.mark.line + 1) + ", column " +
                         std::to_string(e.mark.column + 1) + ": " + e.msg,
                     0};
    }
    Config c = r.config(root, check_cgroup, items);
    if (r.errors.empty()) validate_config(c, r.errors);
    if (!r.errors.empty()) return joined(r.errors);
    return c;
}

Result<YamlNode> load_document(const std::string& text, const char* what) {
    std::istringstream in(text);
    try {
        return load_yaml(in);
    } catch (const YAML::Exception& e) {
        return Error{std::string(what) + ": YAML/JSON syntax error at line " + std::to_string(e.mark.line + 1) +
                         ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg,
                     0};
    }
}

Result<std::vector<Service>> parse_services_node(const YamlNode& root, bool allow_list) {
    Reader r;
    Config c;
    if (root.is_sequence()) {
        if (!allow_list) return Error{"invalid service: expected one service (a mapping), got a list", 0};
        for (size_t i = 0; i < root.size(); ++i)
            c.services.push_back(r.service(root[i], "services[" + std::to_string(i) + "]"));
    } else if (root.is_map()) {
        c.services.push_back(r.service(root, ""));
    } else {
        return Error{"invalid service: expected a mapping (one services[] item)" +
                         std::string(allow_list ? " or a list of them" : "") + ", got " + Reader::show(root),
                     0};
    }
    if (r.errors.empty()) validate_config(c, r.errors);
    if (!r.errors.empty()) {
        // A single item's paths read "services[0].port" in validate_config's
        // words and ".port" in the reader's: name the field alone.
        if (!root.is_sequence())
            for (auto& e : r.errors) {
                if (e.rfind("services[0].", 0) == 0) e.erase(0, 12);
                else if (e.rfind("services[0]", 0) == 0) e.erase(0, 11);
                else if (!e.empty() && e[0] == '.') e.erase(0, 1);
            }
        std::string msg = "invalid service: ";
        for (size_t i = 0; i < r.errors.size(); ++i) msg += (i ? "; " : "") + r.errors[i];
        return Error{msg, 0};
    }
    return std::move(c.services);
}

}  // namespace

Result<std::vector<Service>> parse_services_document(const std::string& text) {
    auto root = load_document(text, "invalid service");
    if (!root) return root.error();
    return parse_services_node(*root, true);
}

Result<Service> parse_service_item(const std::string& text) {
    auto root = load_document(text, "invalid service");
    if (!root) return root.error();
    auto v = parse_services_node(*root, false);
    if (!v) return v.error();
    return std::move(v->front());
}

Result<Config> parse_config(const std::string& yaml_text, const CgroupCheck& check_cgroup) {
    std::istringstream in(yaml_text);
    return parse_stream(in, check_cgroup);
}

Result<Config> load_config_file(const std::string& path, const CgroupCheck& check_cgroup) {
    std::ifstream in(path);
    if (!in) return sys_error("cannot read config " + path);
    auto r = parse_stream(in, check_cgroup);
    if (!r) return Error{path + ": " + r.error().message, 0};
    return r;
}

}  // namespace hl
