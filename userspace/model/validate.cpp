#include "model/validate.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <iterator>
#include <numeric>
#include <string_view>
#include <set>
#include <tuple>

#include "model/etcd_endpoint.h"

namespace hl {

namespace {

constexpr size_t kNone = std::numeric_limits<size_t>::max();

// For each of `indexes` (ascending), the first earlier one with an equal key
// by `less`, else kNone: what inserting them in turn into a std::set or map
// reports, without a node holding copies of the key per service (at 65,536
// services those sets took ~15 MB next to the config being validated).
// Sorted by `hash` of the key first: integers sort several times faster than
// strings compare, and keys are compared only within a run of equal hashes
// (equal keys hash equal; a run of colliding keys is sorted by `less`, so
// crafted collisions cost no more than sorting by key did).
template <class Hash, class Less>
std::vector<size_t> first_equal(const std::vector<size_t>& indexes, size_t n, Hash hash, Less less) {
    std::vector<std::pair<uint64_t, size_t>> hashed;
    hashed.reserve(indexes.size());
    for (size_t i : indexes) hashed.emplace_back(hash(i), i);
    std::sort(hashed.begin(), hashed.end());  // by hash, then by index
    std::vector<size_t> first(n, kNone), run;
    for (size_t a = 0, b; a < hashed.size(); a = b) {
        for (b = a + 1; b < hashed.size() && hashed[b].first == hashed[a].first;) ++b;
        if (b - a == 1) continue;
        run.clear();
        for (size_t k = a; k < b; ++k) run.push_back(hashed[k].second);
        std::stable_sort(run.begin(), run.end(), less);  // stable: equal keys stay in index order
        for (size_t k = 1, head = 0; k < run.size(); ++k) {
            if (less(run[k - 1], run[k])) head = k;
            else first[run[k]] = run[head];
        }
    }
    return first;
}

uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x9E3779B97F4A7C15ull + (h >> 29); }
uint64_t hash_text(std::string_view s) { return std::hash<std::string_view>{}(s); }
uint64_t hash_address(const IpAddress& a) {
    const auto& b = a.bytes();
    return hash_text(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

}  // namespace

bool valid_endpoint_id(std::string_view id) {
    if (id.empty() || id.size() > kMaxEndpointIdLength) return false;
    for (char c : id) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                  c == ':' || c == '-' || c == '[' || c == ']';
        if (!ok) return false;
    }
    return true;
}

bool valid_name(std::string_view s) {
    if (s.empty() || s.size() >= 64) return false;
    for (char ch : s) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                  ch == '_' || ch == '.';
        if (!ok) return false;
    }
    return true;
}

bool valid_dns_name(const std::string& s) {
    if (s.empty() || s.size() > 200) return false;
    size_t start = 0;
    while (true) {
        size_t dot = s.find('.', start);
        size_t end = dot == std::string::npos ? s.size() : dot;
        size_t len = end - start;
        if (len == 0 || len > 63 || s[start] == '-' || s[end - 1] == '-') return false;
        for (size_t i = start; i < end; ++i) {
            char ch = s[i];
            bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
            if (!ok) return false;
        }
        if (dot == std::string::npos) return true;
        start = dot + 1;
    }
}

namespace {

void validate_dns(const Config& c, std::vector<std::string>& errors) {
    const DnsConfig& d = *c.dns;
    if (d.listen.empty()) errors.push_back("dns.listen: needs at least one ADDR:PORT");
    std::set<SocketAddress> listen;
    for (size_t i = 0; i < d.listen.size(); ++i) {
        std::string at = "dns.listen[" + std::to_string(i) + "]";
        if (!listen.insert(d.listen[i]).second) errors.push_back(at + ": " + d.listen[i].to_string() + " is listed twice");
        // dns.vip:53 is a service whose backends are the listen addresses:
        // a backend on the service's own VIP would route to itself.
        if (d.listen[i].address == d.vip)
            errors.push_back(at + ": " + d.listen[i].to_string() + " is on dns.vip (" + d.vip.to_string() +
                             "), which the datapath redirects to dns.listen");
    }
    if (!valid_dns_name(d.zone))
        errors.push_back("dns.zone: '" + d.zone + "' is not a DNS name (labels of 1-63 of A-Z a-z 0-9 -)");
    for (size_t i = 0; i < d.upstreams.size(); ++i) {
        const SocketAddress& u = d.upstreams[i];
        std::string at = "dns.upstreams[" + std::to_string(i) + "]";
        if (listen.count(u) || (u.address == d.vip && u.port == 53))
            errors.push_back(at + ": " + u.to_string() + " is the responder itself (a forwarding loop)");
    }
    for (size_t i = 0; i < c.services.size(); ++i) {
        const Service& s = c.services[i];
        if (s.vip && *s.vip == d.vip && s.port == 53)
            errors.push_back("services[" + std::to_string(i) + "].vip: " + s.vip->with_port(53) +
                             " is dns.vip, the name service of every namespace");
    }
}

}  // namespace

void validate_config(const Config& c, std::vector<std::string>& errors) {
    const auto& ss = c.services;
    std::vector<size_t> all(ss.size()), with_vip;
    std::iota(all.begin(), all.end(), size_t{0});
    std::copy_if(all.begin(), all.end(), std::back_inserter(with_vip), [&](size_t i) { return ss[i].vip.has_value(); });
    const auto same_name = first_equal(
        all, ss.size(), [&](size_t i) { return mix(hash_text(ss[i].ns), hash_text(ss[i].name)); },
        [&](size_t a, size_t b) { return std::tie(ss[a].ns, ss[a].name) < std::tie(ss[b].ns, ss[b].name); });
    const auto same_vip = first_equal(
        with_vip, ss.size(),
        [&](size_t i) {
            return mix(mix(hash_text(ss[i].ns), hash_address(*ss[i].vip)),
                       ss[i].port | uint64_t(static_cast<int>(ss[i].protocol)) << 16);
        },
        [&](size_t a, size_t b) {
            return std::tie(ss[a].ns, *ss[a].vip, ss[a].port, ss[a].protocol) <
                   std::tie(ss[b].ns, *ss[b].vip, ss[b].port, ss[b].protocol);
        });
    size_t total_backends = 0;
    std::vector<size_t> backend_indexes;
    for (size_t i = 0; i < ss.size(); ++i) {
        const Service& s = ss[i];
        // Paths are spelled out only for a problem: a valid config builds none.
        auto at = [i] { return "services[" + std::to_string(i) + "]"; };
        if (!valid_name(s.name)) errors.push_back(at() + ".name: '" + s.name + "' is not a name (1-63 of A-Z a-z 0-9 - _ .)");
        if (!valid_name(s.ns))
            errors.push_back(at() + ".namespace: '" + s.ns + "' is not a name (1-63 of A-Z a-z 0-9 - _ .)");
        if (same_name[i] != kNone)
            errors.push_back(at() + ".name: service '" + s.name + "' is defined twice in namespace '" + s.ns + "'");
        if (s.vip && same_vip[i] != kNone)
            errors.push_back(at() + ".vip: " + s.vip->with_port(s.port) + "/" + to_string(s.protocol) +
                             " is already used by services[" + std::to_string(same_vip[i]) + "] in namespace '" +
                             s.ns + "'");
        if (s.protocol == Protocol::Udp) {
            if (s.algorithm == Algorithm::LeastConnections)
                errors.push_back(at() + ".algorithm: 'least_connections' counts TCP connections; service '" + s.name +
                                 "' is udp");
            if (s.connect_timeout_ms)
                errors.push_back(at() + ".connect_timeout: applies to TCP connects; service '" + s.name + "' is udp");
            if (s.health_check)
                errors.push_back(at() + ".health_check: probes are TCP connects or HTTP requests; service '" + s.name +
                                 "' is udp");
        }
        if (s.health_check && s.health_check->timeout_ms > s.health_check->interval_ms)
            errors.push_back(at() + ".health_check.timeout: " + std::to_string(s.health_check->timeout_ms) +
                             " ms is longer than its interval (" + std::to_string(s.health_check->interval_ms) + " ms)");
        const auto& bs = s.backends;
        // An endpoint listed twice: compared pairwise among a service's few
        // backends, sorted when there are many.
        std::vector<size_t> same_endpoint;
        if (bs.size() > 16) {
            backend_indexes.resize(bs.size());
            std::iota(backend_indexes.begin(), backend_indexes.end(), size_t{0});
            same_endpoint = first_equal(
                backend_indexes, bs.size(), [&](size_t j) { return mix(hash_address(bs[j].address), bs[j].port); },
                [&](size_t a, size_t b) { return std::tie(bs[a].address, bs[a].port) < std::tie(bs[b].address, bs[b].port); });
        }
        for (size_t j = 0; j < bs.size(); ++j) {
            const Backend& b = bs[j];
            auto bat = [&] { return at() + ".backends[" + std::to_string(j) + "]"; };
            bool twice = false;
            if (bs.size() > 16) twice = same_endpoint[j] != kNone;
            else
                for (size_t k = 0; k < j && !twice; ++k) twice = bs[k].address == b.address && bs[k].port == b.port;
            if (twice) errors.push_back(bat() + ": backend " + b.endpoint() + " is listed twice");
            if (b.state == BackendState::Quarantined)
                errors.push_back(bat() + ".state: 'quarantined' is set by the daemon's health checks, not the config");
            if (s.vip && b.address == *s.vip)
                errors.push_back(bat() + ".address: " + b.address.to_string() + " is the service's own VIP");
        }
        total_backends += bs.size();
    }
    if (c.services.size() > c.maps.max_services)
        errors.push_back("services: " + std::to_string(c.services.size()) + " services do not fit maps.max_services=" +
                         std::to_string(c.maps.max_services));
    if (total_backends > c.maps.max_backends)
        errors.push_back("services: " + std::to_string(total_backends) +
                         " backends do not fit maps.max_backends=" + std::to_string(c.maps.max_backends));
    std::set<std::string> cgroups;
    for (size_t i = 0; i < c.attach.size(); ++i) {
        const Attachment& a = c.attach[i];
        std::string at = "attach[" + std::to_string(i) + "]";
        if (!valid_name(a.ns)) errors.push_back(at + ".namespace: '" + a.ns + "' is not a name");
        if (!cgroups.insert(a.cgroup).second) errors.push_back(at + ".cgroup: '" + a.cgroup + "' is attached twice");
    }
    if (c.dns) validate_dns(c, errors);
    if (c.etcd) {
        const EtcdConfig& e = *c.etcd;
        if (e.endpoints.empty()) errors.push_back("etcd.endpoints: needs at least one http://HOST:PORT");
        for (size_t i = 0; i < e.endpoints.size(); ++i)
            if (auto ep = etcd::parse_endpoint(e.endpoints[i]); !ep)
                errors.push_back("etcd.endpoints[" + std::to_string(i) + "]: " + ep.error().what());
        if (!e.host.empty() && !valid_name(e.host))
            errors.push_back("etcd.host: '" + e.host + "' is not a name (1-63 of A-Z a-z 0-9 - _ .)");
        if (e.prefix.size() > 1 && e.prefix.back() == '/')
            errors.push_back("etcd.prefix: '" + e.prefix + "' ends with '/'");
    }
}

}  // namespace hl
