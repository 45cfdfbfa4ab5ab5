#include "discovery/config_file.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "discovery/yaml_tree.h"
#include "model/validate.h"

namespace hl {
namespace {

// Where a value sits in the document ("services[3].backends[0].port"): a
// chain of the keys and indexes on the way, spelled out only when a problem
// is reported, so reading a valid config builds no path strings. A Path
// points to its parent, which must outlive it: name a Path kept in a
// variable (`const Path at = path / "backends";`), never one made from a
// temporary (`(path / "backends")[i]` lives only as a call's argument).
class Path {
public:
    Path() = default;  // the document (or the single item) itself
    Path operator/(std::string_view key) const { return Path(this, key, kNoIndex); }
    Path operator[](size_t i) const { return Path(this, {}, i); }

    std::string str() const {
        std::string out;
        append_to(out);
        return out;
    }

private:
    static constexpr size_t kNoIndex = static_cast<size_t>(-1);
    Path(const Path* up, std::string_view key, size_t index) : up_(up), key_(key), index_(index) {}

    void append_to(std::string& out) const {
        if (!up_) return;
        up_->append_to(out);
        if (index_ != kNoIndex) {
            out += '[' + std::to_string(index_) + ']';
        } else {
            if (!out.empty()) out += '.';
            out += key_;
        }
    }

    const Path* up_ = nullptr;
    std::string_view key_;
    size_t index_ = kNoIndex;
};

// Walks the YAML tree collecting every problem with its path, so one run of
// the parser reports all of them and nothing half-parsed escapes.
class Reader {
public:
    std::vector<std::string> errors;

    void fail(const Path& path, const std::string& what) { errors.push_back(path.str() + ": " + what); }

    static std::string show(const YamlNode& n) {
        if (n.is_scalar()) return "'" + n.scalar() + "'";
        if (n.is_sequence()) return "a list";
        if (n.is_map()) return "a mapping";
        return "nothing";
    }

    bool expect_map(const YamlNode& n, const Path& path, std::initializer_list<std::string_view> keys) {
        if (!n.is_map()) {
            fail(path, "expected a mapping, got " + show(n));
            return false;
        }
        // A config's mappings have a handful of keys: pairwise comparison
        // beats building sets for each of 65,536 services; a big mapping
        // (a mistake, or hostile) is sorted instead.
        const size_t size = n.size();
        auto key_at = [&](size_t i) { return n.key(i).is_scalar() ? std::string_view(n.key(i).scalar()) : "?"; };
        std::vector<std::string_view> sorted;
        if (size > 16) {
            sorted.reserve(size);
            for (size_t i = 0; i < size; ++i) sorted.push_back(key_at(i));
            std::sort(sorted.begin(), sorted.end());
        }
        for (size_t i = 0; i < size; ++i) {
            std::string_view k = key_at(i);
            // Both pairs are kept and n[k] reads the first: the other would be silently ignored.
            bool earlier = false;
            if (size > 16) {
                auto [lo, hi] = std::equal_range(sorted.begin(), sorted.end(), k);
                if (hi - lo > 1)
                    for (size_t j = 0; j < i && !earlier; ++j) earlier = key_at(j) == k;
            } else {
                for (size_t j = 0; j < i && !earlier; ++j) earlier = key_at(j) == k;
            }
            if (earlier) fail(path / k, "key given twice");
            if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
                std::string list;
                for (auto a : keys) (list += list.empty() ? "" : ", ") += a;
                fail(path / k, "unknown key (expected one of: " + list + ")");
            }
        }
        return true;
    }

    const std::string* str(const YamlNode& n, const Path& path) {
        if (!n.is_scalar()) {
            fail(path, "expected a string, got " + show(n));
            return nullptr;
        }
        return &n.scalar();
    }

    std::optional<uint64_t> uint(const YamlNode& n, const Path& path, uint64_t lo, uint64_t hi, const char* what) {
        auto range = [&] { return " (" + std::to_string(lo) + "-" + std::to_string(hi) + ")"; };
        if (!n.is_scalar()) {
            fail(path, "expected " + std::string(what) + range() + ", got " + show(n));
            return std::nullopt;
        }
        const std::string& s = n.scalar();
        uint64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) {
            fail(path, "'" + s + "' is not " + what + range());
            return std::nullopt;
        }
        return v;
    }

    // Seconds as a decimal ("2", "0.5", at most 3 decimals), in milliseconds.
    std::optional<uint32_t> seconds_ms(const YamlNode& n, const Path& path, uint32_t lo_ms, uint32_t hi_ms) {
        auto range = [&] {
            auto sec = [](uint32_t ms) {
                std::string t = std::to_string(ms / 1000);
                if (ms % 1000) {
                    char frac[8];
                    std::snprintf(frac, sizeof frac, ".%03u", ms % 1000);
                    t += frac;
                    while (t.back() == '0') t.pop_back();
                }
                return t;
            };
            return " (" + sec(lo_ms) + "-" + sec(hi_ms) + ")";
        };
        if (!n.is_scalar()) {
            fail(path, "expected seconds" + range() + ", got " + show(n));
            return std::nullopt;
        }
        const std::string& s = n.scalar();
        auto dot = s.find('.');
        std::string_view whole(s.data(), dot == std::string::npos ? s.size() : dot);
        std::string_view frac = dot == std::string::npos ? std::string_view() : std::string_view(s).substr(dot + 1);
        uint64_t w = 0, f = 0;
        bool ok = !whole.empty() && whole.size() <= 9 && frac.size() <= 3 && (dot == std::string::npos || !frac.empty());
        if (ok) {
            auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), w);
            ok = ec == std::errc() && p == whole.data() + whole.size();
        }
        if (ok && !frac.empty()) {
            auto [p, ec] = std::from_chars(frac.data(), frac.data() + frac.size(), f);
            ok = ec == std::errc() && p == frac.data() + frac.size();
            for (size_t i = frac.size(); i < 3; ++i) f *= 10;
        }
        uint64_t ms = w * 1000 + f;
        if (!ok || ms < lo_ms || ms > hi_ms) {
            fail(path, "'" + s + "' is not seconds" + range());
            return std::nullopt;
        }
        return static_cast<uint32_t>(ms);
    }

    HealthCheck health_check(const YamlNode& n, const Path& at) {
        HealthCheck h;
        if (!expect_map(n, at,
                        {"protocol", "path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold", "netns"}))
            return h;
        if (n["protocol"])
            if (auto v = str(n["protocol"], at / "protocol")) {
                if (auto p = parse_health_protocol(*v)) h.protocol = *p;
                else fail(at / "protocol", "'" + *v + "' is not a health check protocol (tcp, http)");
            }
        if (n["path"])
            if (auto v = str(n["path"], at / "path")) {
                // Sent as the request target: no spaces, control characters or absolute URLs.
                bool ok = !v->empty() && (*v)[0] == '/' && v->size() <= 1024;
                for (char c : *v) ok = ok && static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
                if (ok) h.path = *v;
                else fail(at / "path", "'" + *v + "' is not a request path (starts with '/', no spaces, at most 1024)");
            }
        if (n["interval"])
            if (auto v = seconds_ms(n["interval"], at / "interval", 100, 3600 * 1000)) h.interval_ms = *v;
        if (n["timeout"])
            if (auto v = seconds_ms(n["timeout"], at / "timeout", 10, 3600 * 1000)) h.timeout_ms = *v;
        if (n["healthy_threshold"])
            if (auto v = uint(n["healthy_threshold"], at / "healthy_threshold", 1, 1000, "a count"))
                h.healthy_threshold = static_cast<uint16_t>(*v);
        if (n["unhealthy_threshold"])
            if (auto v = uint(n["unhealthy_threshold"], at / "unhealthy_threshold", 1, 1000, "a count"))
                h.unhealthy_threshold = static_cast<uint16_t>(*v);
        if (n["netns"])
            if (auto v = str(n["netns"], at / "netns")) {
                // A name under /run/netns (as `ip netns` makes them) or an absolute path.
                bool ok = !v->empty() && v->size() < 256 && *v != "." && *v != "..";
                if (ok && (*v)[0] != '/')
                    for (char c : *v) ok = ok && c != '/';
                if (ok) h.netns = *v;
                else fail(at / "netns", "'" + *v + "' is not a network namespace name or absolute path");
            }
        return h;
    }

    OutlierDetection outlier_detection(const YamlNode& n, const Path& at) {
        OutlierDetection o;
        if (!expect_map(n, at, {"consecutive_failures", "base_ejection_time", "max_ejection_percent"})) return o;
        if (n["consecutive_failures"])
            if (auto v = uint(n["consecutive_failures"], at / "consecutive_failures", 1, 1000, "a count"))
                o.consecutive_failures = static_cast<uint32_t>(*v);
        if (n["base_ejection_time"])
            if (auto v = seconds_ms(n["base_ejection_time"], at / "base_ejection_time", 100, 300 * 1000))
                o.base_ejection_time_ms = *v;
        if (n["max_ejection_percent"])
            if (auto v = uint(n["max_ejection_percent"], at / "max_ejection_percent", 0, 100, "a percentage"))
                o.max_ejection_percent = static_cast<uint8_t>(*v);
        return o;
    }

    std::optional<IpAddress> address(const YamlNode& n, const Path& path) {
        auto s = str(n, path);
        if (!s) return std::nullopt;
        auto a = IpAddress::parse(*s);
        if (!a) fail(path, "'" + *s + "' is not an IPv4 or IPv6 address");
        return a;
    }

    Backend backend(const YamlNode& n, const Path& path) {
        Backend b;
        if (!expect_map(n, path, {"address", "port", "weight", "state"})) return b;
        if (!n["address"]) fail(path / "address", "missing");
        else if (auto a = address(n["address"], path / "address")) b.address = *a;
        if (!n["port"]) fail(path / "port", "missing");
        else if (auto p = uint(n["port"], path / "port", 1, 65535, "a port")) b.port = static_cast<uint16_t>(*p);
        if (n["weight"])
            if (auto w = uint(n["weight"], path / "weight", 0, 65535, "a weight")) b.weight = static_cast<uint16_t>(*w);
        if (n["state"]) {
            if (auto s = str(n["state"], path / "state")) {
                auto st = parse_backend_state(*s);
                if (!st || *st == BackendState::Quarantined)
                    fail(path / "state", "'" + *s + "' is not a backend state (active, draining)");
                else
                    b.state = *st;
            }
        }
        return b;
    }

    Service service(const YamlNode& n, const Path& path) {
        Service s;
        if (!expect_map(n, path, {"name", "namespace", "vip", "port", "protocol", "algorithm", "backends", "affinity",
                                  "drain_timeout", "connect_timeout", "prefer", "health_check", "outlier_detection"}))
            return s;
        if (!n["name"]) fail(path / "name", "missing");
        else if (auto v = str(n["name"], path / "name")) s.name = *v;
        if (n["namespace"])
            if (auto v = str(n["namespace"], path / "namespace")) s.ns = *v;
        if (n["vip"]) s.vip = address(n["vip"], path / "vip");
        if (!n["port"]) fail(path / "port", "missing");
        else if (auto p = uint(n["port"], path / "port", 1, 65535, "a port")) s.port = static_cast<uint16_t>(*p);
        if (n["protocol"])
            if (auto v = str(n["protocol"], path / "protocol")) {
                if (auto p = parse_protocol(*v)) s.protocol = *p;
                else fail(path / "protocol", "'" + *v + "' is not a protocol (tcp, udp)");
            }
        if (n["algorithm"])
            if (auto v = str(n["algorithm"], path / "algorithm")) {
                if (auto a = parse_algorithm(*v)) s.algorithm = *a;
                else
                    fail(path / "algorithm",
                         "'" + *v + "' is not an algorithm (random, round_robin, weighted, least_connections)");
            }
        if (n["affinity"]) {
            const auto& a = n["affinity"];
            const Path at = path / "affinity";
            if (expect_map(a, at, {"timeout"})) {
                if (!a["timeout"]) fail(at / "timeout", "missing");
                else if (auto t = uint(a["timeout"], at / "timeout", 1, 86400 * 7, "a timeout in seconds"))
                    s.affinity_timeout_s = static_cast<uint32_t>(*t);
            }
        }
        if (n["drain_timeout"])
            if (auto t = uint(n["drain_timeout"], path / "drain_timeout", 0, 86400 * 7, "a timeout in seconds"))
                s.drain_timeout_s = static_cast<uint32_t>(*t);
        if (n["connect_timeout"])
            if (auto t = seconds_ms(n["connect_timeout"], path / "connect_timeout", 100, 600 * 1000))
                s.connect_timeout_ms = *t;
        if (n["prefer"])
            if (auto v = str(n["prefer"], path / "prefer")) {
                if (auto p = parse_prefer(*v)) s.prefer = *p;
                else fail(path / "prefer", "'" + *v + "' is not a preference (any, local)");
            }
        if (n["health_check"]) s.health_check = health_check(n["health_check"], path / "health_check");
        if (n["outlier_detection"])
            s.outlier_detection = outlier_detection(n["outlier_detection"], path / "outlier_detection");
        if (n["backends"]) {
            const auto& bs = n["backends"];
            const Path at = path / "backends";
            if (bs.is_null()) {
            } else if (!bs.is_sequence()) {
                fail(at, "expected a list, got " + show(bs));
            } else {
                s.backends.reserve(bs.size());
                for (size_t i = 0; i < bs.size(); ++i) s.backends.push_back(backend(bs[i], at[i]));
            }
        }
        return s;
    }

    // A list of ADDR:PORT; with a default_port the port may be left out.
    std::vector<SocketAddress> socket_addresses(const YamlNode& n, const Path& path,
                                                std::optional<uint16_t> default_port) {
        std::vector<SocketAddress> out;
        if (n.is_null()) return out;
        if (!n.is_sequence()) {
            fail(path, "expected a list, got " + show(n));
            return out;
        }
        for (size_t i = 0; i < n.size(); ++i) {
            const Path at = path[i];
            auto v = str(n[i], at);
            if (!v) continue;
            if (auto a = SocketAddress::parse(*v, default_port)) out.push_back(*a);
            else fail(at, "'" + *v + "' is not " + (default_port ? "ADDR[:PORT]" : "ADDR:PORT"));
        }
        return out;
    }

    DnsConfig dns(const YamlNode& n, const Path& at) {
        DnsConfig d;
        if (!expect_map(n, at, {"listen", "vip", "zone", "upstreams"})) return d;
        if (!n["listen"]) fail(at / "listen", "missing");
        else d.listen = socket_addresses(n["listen"], at / "listen", std::nullopt);
        if (!n["vip"]) fail(at / "vip", "missing");
        else if (auto a = address(n["vip"], at / "vip")) d.vip = *a;
        if (n["zone"])
            if (auto v = str(n["zone"], at / "zone")) {
                // Names compare case-insensitively: keep the zone in one form.
                d.zone = *v;
                for (char& ch : d.zone) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                if (!d.zone.empty() && d.zone.back() == '.') d.zone.pop_back();
            }
        if (n["upstreams"]) d.upstreams = socket_addresses(n["upstreams"], at / "upstreams", uint16_t{53});
        return d;
    }

    EtcdConfig etcd(const YamlNode& n, const Path& at) {
        EtcdConfig e;
        if (!expect_map(n, at, {"endpoints", "prefix", "host", "lease_ttl"})) return e;
        if (!n["endpoints"]) fail(at / "endpoints", "missing");
        else {
            const auto& es = n["endpoints"];
            const Path ep = at / "endpoints";
            if (!es.is_sequence()) fail(ep, "expected a list, got " + show(es));
            else
                for (size_t i = 0; i < es.size(); ++i)
                    if (auto v = str(es[i], ep[i])) e.endpoints.push_back(*v);
        }
        if (n["prefix"])
            if (auto v = str(n["prefix"], at / "prefix")) {
                if (v->empty() || (*v)[0] != '/') fail(at / "prefix", "'" + *v + "' is not a key prefix (starts with '/')");
                else e.prefix = *v;
            }
        if (n["host"])
            if (auto v = str(n["host"], at / "host")) e.host = *v;
        if (n["lease_ttl"])
            if (auto v = uint(n["lease_ttl"], at / "lease_ttl", 2, 3600, "a lease TTL in seconds"))
                e.lease_ttl_s = static_cast<uint32_t>(*v);
        return e;
    }

    Config config(const YamlNode& root, const CgroupCheck& check_cgroup, Reader& items) {
        Config c;
        const Path top;
        if (root.is_null()) {
            fail(top / "services", "missing (the file is empty)");
            return c;
        }
        if (!expect_map(root, top, {"pin_dir", "state_dir", "vip_pool", "metrics", "control", "attach", "dns", "etcd",
                                    "services", "maps"}))
            return c;
        if (root["pin_dir"])
            if (auto v = str(root["pin_dir"], top / "pin_dir")) {
                if (v->empty() || (*v)[0] != '/') fail(top / "pin_dir", "'" + *v + "' is not an absolute path");
                else c.pin_dir = *v;
            }
        if (root["state_dir"])
            if (auto v = str(root["state_dir"], top / "state_dir")) {
                if (v->empty() || (*v)[0] != '/') fail(top / "state_dir", "'" + *v + "' is not an absolute path");
                else c.state_dir = *v;
            }
        if (root["vip_pool"])
            if (auto v = str(root["vip_pool"], top / "vip_pool")) {
                if (auto p = IpPrefix::parse(*v)) c.vip_pool = *p;
                else fail(top / "vip_pool", "'" + *v + "' is not an address prefix such as 127.255.0.0/16");
            }
        if (root["metrics"]) {
            const auto& m = root["metrics"];
            if (expect_map(m, top / "metrics", {"listen"}) && m["listen"])
                if (auto v = str(m["listen"], top / "metrics" / "listen")) {
                    auto colon = v->rfind(':');
                    uint16_t port = 0;
                    auto ps = colon == std::string::npos ? std::string() : v->substr(colon + 1);
                    auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
                    if (colon == std::string::npos || ec != std::errc() || p != ps.data() + ps.size() ||
                        !IpAddress::parse(v->substr(0, colon)))
                        fail(top / "metrics" / "listen", "'" + *v + "' is not ADDRESS:PORT");
                    else
                        c.metrics_listen = *v;
                }
        }
        if (root["control"]) {
            const auto& m = root["control"];
            if (expect_map(m, top / "control", {"socket"}) && m["socket"])
                if (auto v = str(m["socket"], top / "control" / "socket")) c.control_socket = *v;
        }
        if (root["maps"]) {
            const auto& m = root["maps"];
            if (expect_map(m, top / "maps", {"max_services", "max_backends"})) {
                if (m["max_services"])
                    if (auto v = uint(m["max_services"], top / "maps" / "max_services", 16, 1u << 22, "a map size"))
                        c.maps.max_services = static_cast<uint32_t>(*v);
                if (m["max_backends"])
                    if (auto v = uint(m["max_backends"], top / "maps" / "max_backends", 16, 1u << 24, "a map size"))
                        c.maps.max_backends = static_cast<uint32_t>(*v);
            }
        }
        if (root["attach"]) {
            const auto& as = root["attach"];
            const Path at = top / "attach";
            if (!as.is_sequence() && !as.is_null()) fail(at, "expected a list, got " + show(as));
            else
                for (size_t i = 0; i < as.size(); ++i) {
                    const Path path = at[i];
                    Attachment a;
                    if (!expect_map(as[i], path, {"cgroup", "namespace"})) continue;
                    if (!as[i]["cgroup"]) fail(path / "cgroup", "missing");
                    else if (auto v = str(as[i]["cgroup"], path / "cgroup")) {
                        a.cgroup = *v;
                        if (check_cgroup)
                            if (auto err = check_cgroup(*v)) fail(path / "cgroup", "'" + *v + "' " + *err);
                    }
                    if (as[i]["namespace"])
                        if (auto v = str(as[i]["namespace"], path / "namespace")) a.ns = *v;
                    c.attach.push_back(a);
                }
        }
        if (root["dns"]) c.dns = dns(root["dns"], top / "dns");
        if (root["etcd"]) c.etcd = etcd(root["etcd"], top / "etcd");
        if (!root["services"]) fail(top / "services", "missing");
        else {
            const auto& ss = root["services"];
            if (!ss.is_sequence() && !ss.is_null()) fail(top / "services", "expected a list, got " + show(ss));
            else if (ss.streamed()) {
                c.services = std::move(items.streamed);
                errors.insert(errors.end(), items.errors.begin(), items.errors.end());
            } else
                for (size_t i = 0; i < ss.size(); ++i)
                    c.services.push_back(service(ss[i], (top / "services")[i]));
        }
        return c;
    }

    // services: items as the parser hands them over (YamlItemSink), each
    // read and dropped at once; config() takes them, and their errors, here.
    std::vector<Service> streamed;
    void stream_service(const YamlNode& n, size_t i) {
        streamed.push_back(service(n, (Path() / "services")[i]));
    }
};

Error joined(const std::vector<std::string>& errors) {
    // The first few name the problems; a file wrong in 60,000 places gets a
    // line, not a megabyte.
    constexpr size_t kShown = 20;
    std::string msg = "invalid config: ";
    for (size_t i = 0; i < errors.size() && i < kShown; ++i) msg += (i ? "; " : "") + errors[i];
    if (errors.size() > kShown) msg += "; and " + std::to_string(errors.size() - kShown) + " more";
    return Error{msg, 0};
}

// Streams: the file is never held whole, nor is its services: list as a tree.
Result<Config> parse_stream(std::istream& in, const CgroupCheck& check_cgroup) {
    Reader r, items;
    YamlNode root;
    try {
        root = load_yaml(in, {"services", [&](const YamlNode& n, size_t i) { items.stream_service(n, i); }});
    } catch (const YamlError& e) {
        return Error{"invalid config: YAML syntax error at line " + std::to_string(e.line + 1) + ", column " +
                         std::to_string(e.column + 1) + ": " + e.what(),
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
    } catch (const YamlError& e) {
        return Error{std::string(what) + ": YAML/JSON syntax error at line " + std::to_string(e.line + 1) +
                         ", column " + std::to_string(e.column + 1) + ": " + e.what(),
                     0};
    }
}

Result<std::vector<Service>> parse_services_node(const YamlNode& root, bool allow_list) {
    Reader r;
    Config c;
    if (root.is_sequence()) {
        if (!allow_list) return Error{"invalid service: expected one service (a mapping), got a list", 0};
        for (size_t i = 0; i < root.size(); ++i)
            c.services.push_back(r.service(root[i], (Path() / "services")[i]));
    } else if (root.is_map()) {
        c.services.push_back(r.service(root, Path()));
    } else {
        return Error{"invalid service: expected a mapping (one services[] item)" +
                         std::string(allow_list ? " or a list of them" : "") + ", got " + Reader::show(root),
                     0};
    }
    if (r.errors.empty()) validate_config(c, r.errors);
    if (!r.errors.empty()) {
        // A single item's paths read "services[0].port" in validate_config's
        // words and "port" in the reader's: name the field alone.
        if (!root.is_sequence())
            for (auto& e : r.errors) {
                if (e.rfind("services[0].", 0) == 0) e.erase(0, 12);
                else if (e.rfind("services[0]", 0) == 0) e.erase(0, 11);
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
