#include "model/etcd_endpoint.h"

#include <arpa/inet.h>

#include <cctype>

namespace hl::etcd {

namespace {

bool is_dns_name(std::string_view h) {
    if (h.empty() || h.size() > 253 || h.front() == '.' || h.front() == '-') return false;
    for (char c : h) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return false;
    }
    return true;
}

}  // namespace

Result<Endpoint> parse_endpoint(std::string_view url) {
    auto bad = [&](const std::string& why) { return Error{"etcd endpoint '" + std::string(url) + "': " + why}; };
    std::string_view rest = url;
    if (rest.starts_with("https://")) return bad("https is not supported (no TLS yet); use http://");
    if (rest.starts_with("http://")) rest.remove_prefix(7);
    if (auto scheme = rest.find("://"); scheme != std::string_view::npos) return bad("unknown scheme");
    if (rest.ends_with('/')) rest.remove_suffix(1);
    if (rest.find('/') != std::string_view::npos) return bad("a path is not allowed");
    if (rest.find('@') != std::string_view::npos) return bad("user info is not allowed");

    std::string_view host, port;
    bool v6 = false;
    if (rest.starts_with('[')) {
        auto close = rest.find(']');
        if (close == std::string_view::npos) return bad("unbalanced '['");
        host = rest.substr(1, close - 1);
        auto after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return bad("expected ':' after ']'");
            port = after.substr(1);
            if (port.empty()) return bad("empty port");
        }
        v6 = true;
    } else {
        auto colon = rest.rfind(':');
        if (colon != std::string_view::npos) {
            if (rest.find(':') != colon) return bad("an IPv6 address needs brackets: http://[ADDR]:PORT");
            host = rest.substr(0, colon);
            port = rest.substr(colon + 1);
            if (port.empty()) return bad("empty port");
        } else {
            host = rest;
        }
    }
    if (host.empty()) return bad("no host");
    unsigned long p = 2379;
    if (!port.empty()) {
        if (port.size() > 5) return bad("port out of range");
        p = 0;
        for (char c : port) {
            if (c < '0' || c > '9') return bad("port is not a number");
            p = p * 10 + static_cast<unsigned long>(c - '0');
        }
        if (p == 0 || p > 65535) return bad("port out of range");
    }
    std::string h(host);
    std::string ps = std::to_string(p);
    unsigned char buf[16];
    if (v6) {
        if (inet_pton(AF_INET6, h.c_str(), buf) != 1) return bad("'" + h + "' is not an IPv6 address");
        return Endpoint{std::string(url), "ipv6:[" + h + "]:" + ps};
    }
    if (inet_pton(AF_INET, h.c_str(), buf) == 1) return Endpoint{std::string(url), "ipv4:" + h + ":" + ps};
    if (!is_dns_name(h)) return bad("'" + h + "' is neither an address nor a host name");
    return Endpoint{std::string(url), "dns:///" + h + ":" + ps};
}

}  // namespace hl::etcd
