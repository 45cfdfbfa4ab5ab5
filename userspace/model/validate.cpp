#include "model/validate.h"

#include <map>
#include <set>
#include <tuple>

namespace hl {

bool valid_name(const std::string& s) {
    if (s.empty() || s.size() >= 64) return false;
    for (char ch : s) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                  ch == '_' || ch == '.';
        if (!ok) return false;
    }
    return true;
}

void validate_config(const Config& c, std::vector<std::string>& errors) {
    std::set<std::pair<std::string, std::string>> names;
    std::map<std::tuple<std::string, IpAddress, uint16_t, Protocol>, size_t> vips;
    size_t total_backends = 0;
    for (size_t i = 0; i < c.services.size(); ++i) {
        const Service& s = c.services[i];
        std::string at = "services[" + std::to_string(i) + "]";
        if (!valid_name(s.name)) errors.push_back(at + ".name: '" + s.name + "' is not a name (1-63 of A-Z a-z 0-9 - _ .)");
        if (!valid_name(s.ns))
            errors.push_back(at + ".namespace: '" + s.ns + "' is not a name (1-63 of A-Z a-z 0-9 - _ .)");
        if (!names.insert({s.ns, s.name}).second)
            errors.push_back(at + ".name: service '" + s.name + "' is defined twice in namespace '" + s.ns + "'");
        if (s.vip) {
            auto key = std::make_tuple(s.ns, *s.vip, s.port, s.protocol);
            auto [it, fresh] = vips.emplace(key, i);
            if (!fresh)
                errors.push_back(at + ".vip: " + s.vip->with_port(s.port) + "/" + to_string(s.protocol) +
                                 " is already used by services[" + std::to_string(it->second) + "] in namespace '" +
                                 s.ns + "'");
        }
        std::set<std::pair<IpAddress, uint16_t>> endpoints;
        for (size_t j = 0; j < s.backends.size(); ++j) {
            const Backend& b = s.backends[j];
            std::string bat = at + ".backends[" + std::to_string(j) + "]";
            if (!endpoints.insert({b.address, b.port}).second)
                errors.push_back(bat + ": backend " + b.endpoint() + " is listed twice");
            if (b.state == BackendState::Quarantined)
                errors.push_back(bat + ".state: 'quarantined' is set by the daemon's health checks, not the config");
            if (s.vip && b.address == *s.vip)
                errors.push_back(bat + ".address: " + b.address.to_string() + " is the service's own VIP");
        }
        total_backends += s.backends.size();
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
}

}  // namespace hl
