#include "oci/annotations.h"

#include <charconv>

#include "model/validate.h"

namespace hl::oci {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Bad input is quoted in errors, but never at unbounded length.
std::string quoted(std::string_view s) {
    std::string q(s.substr(0, 64));
    if (s.size() > 64) q += "...";
    return "'" + q + "'";
}

const char* const kName = " (1-63 of A-Z a-z 0-9 - _ .)";

Result<Registration> parse_one(std::string_view item, size_t index) {
    std::string at = std::string(kAnnotationRegister) + "[" + std::to_string(index) + "]";
    if (item.empty()) return Error{at + ": empty entry (expected service:port[/tcp|udp])", 0};
    Registration r;
    auto colon = item.find(':');
    if (colon == std::string_view::npos)
        return Error{at + ": " + quoted(item) + " is not service:port[/tcp|udp]", 0};
    r.service = std::string(trim(item.substr(0, colon)));
    if (!valid_name(r.service)) return Error{at + ": service " + quoted(r.service) + " is not a name" + kName, 0};
    std::string_view rest = trim(item.substr(colon + 1));
    std::string_view port_text = rest;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        port_text = trim(rest.substr(0, slash));
        std::string_view proto = trim(rest.substr(slash + 1));
        auto p = parse_protocol(proto);
        if (!p) return Error{at + ": protocol " + quoted(proto) + " is not tcp or udp", 0};
        r.protocol = *p;
    }
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
        return Error{at + ": port " + quoted(port_text) + " is not 1-65535", 0};
    r.port = static_cast<uint16_t>(port);
    return r;
}

}  // namespace

Result<std::vector<Registration>> parse_register(std::string_view text) {
    std::vector<Registration> out;
    if (trim(text).empty()) return Error{std::string(kAnnotationRegister) + ": empty (expected service:port[/tcp|udp],...)", 0};
    size_t index = 0;
    while (true) {
        auto comma = text.find(',');
        auto r = parse_one(trim(text.substr(0, comma)), index);
        if (!r) return r.error();
        for (const auto& o : out)
            if (o == *r)
                return Error{std::string(kAnnotationRegister) + "[" + std::to_string(index) + "]: " + r->service + ":" +
                                 std::to_string(r->port) + "/" + to_string(r->protocol) + " is given twice",
                             0};
        out.push_back(std::move(*r));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
        ++index;
    }
    return out;
}

bool has_hopless_annotations(const Annotations& a) {
    auto it = a.lower_bound(kAnnotationPrefix);
    return it != a.end() && it->first.starts_with(kAnnotationPrefix);
}

Result<HookRequest> parse_annotations(const Annotations& a) {
    HookRequest req;
    for (auto it = a.lower_bound(kAnnotationPrefix); it != a.end() && it->first.starts_with(kAnnotationPrefix); ++it) {
        const auto& [key, value] = *it;
        if (key == kAnnotationNamespace) {
            std::string ns(trim(value));
            if (!valid_name(ns)) return Error{key + ": " + quoted(value) + " is not a namespace name" + kName, 0};
            req.attach_ns = ns;
            req.ns = ns;
        } else if (key == kAnnotationRegister) {
            auto r = parse_register(value);
            if (!r) return r.error();
            req.registrations = std::move(*r);
        } else if (key == kAnnotationAddress) {
            auto addr = IpAddress::parse(trim(value));
            if (!addr) return Error{key + ": " + quoted(value) + " is not an IPv4 or IPv6 address", 0};
            req.address = *addr;
        } else {
            return Error{"unknown annotation " + quoted(key) + " (hopless knows " + kAnnotationNamespace + ", " +
                             kAnnotationRegister + ", " + kAnnotationAddress + ")",
                         0};
        }
    }
    if (req.address && req.registrations.empty())
        return Error{std::string(kAnnotationAddress) + " is given but " + kAnnotationRegister +
                         " is not: there is nothing to register",
                     0};
    return req;
}

std::string endpoint_id(std::string_view container_id, const Registration& r) {
    return std::string(container_id) + ":" + std::to_string(r.port) + ":" + to_string(r.protocol);
}

}  // namespace hl::oci
