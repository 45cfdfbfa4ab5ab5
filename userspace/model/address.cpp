#include "model/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace hl {

IpAddress IpAddress::v4(uint32_t host_order) {
    IpAddress a;
    a.b_[10] = 0xff;
    a.b_[11] = 0xff;
    uint32_t be = htonl(host_order);
    std::memcpy(&a.b_[12], &be, 4);
    return a;
}

IpAddress IpAddress::from_bytes(const uint8_t* b16) {
    IpAddress a;
    std::memcpy(a.b_.data(), b16, 16);
    return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
    std::string s(text);
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return IpAddress::v4(ntohl(v4.s_addr));
    in6_addr v6{};
    if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) return IpAddress::from_bytes(v6.s6_addr);
    return std::nullopt;
}

bool IpAddress::is_v4() const {
    static constexpr uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b_.data(), prefix, 12) == 0;
}

uint32_t IpAddress::v4_host_order() const {
    uint32_t be;
    std::memcpy(&be, &b_[12], 4);
    return ntohl(be);
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (is_v4())
        inet_ntop(AF_INET, &b_[12], buf, sizeof buf);
    else
        inet_ntop(AF_INET6, b_.data(), buf, sizeof buf);
    return buf;
}

std::string IpAddress::with_port(uint16_t port) const {
    // Appended step by step: gcc 12 at -O3 misreads `"[" + s + "]:"` as an
    // overlapping memcpy (-Wrestrict, GCC bug 105651).
    std::string out = is_v4() ? to_string() : '[' + to_string();
    out.append(is_v4() ? ":" : "]:");
    out.append(std::to_string(port));
    return out;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto addr = IpAddress::parse(text.substr(0, slash));
    if (!addr) return std::nullopt;
    auto len_s = text.substr(slash + 1);
    int len = -1;
    auto [p, ec] = std::from_chars(len_s.data(), len_s.data() + len_s.size(), len);
    if (ec != std::errc() || p != len_s.data() + len_s.size()) return std::nullopt;
    int max = addr->is_v4() ? 32 : 128;
    if (len < 0 || len > max) return std::nullopt;
    return IpPrefix{*addr, len};
}

bool IpPrefix::contains(const IpAddress& a) const {
    if (a.is_v4() != base.is_v4()) return false;
    int bits = base.is_v4() ? 96 + length : length;
    const auto& x = a.bytes();
    const auto& y = base.bytes();
    for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
        uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
        if ((x[i] & mask) != (y[i] & mask)) return false;
    }
    return true;
}

std::string IpPrefix::to_string() const { return base.to_string() + "/" + std::to_string(length); }

std::optional<SocketAddress> SocketAddress::parse(std::string_view text, std::optional<uint16_t> default_port) {
    std::string_view host = text, port_text;
    bool has_port = false;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = text.substr(0, close + 1);
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') return std::nullopt;
            port_text = text.substr(close + 2);
            has_port = true;
        }
    } else if (auto colon = text.find(':');
               colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
        // One colon: a v4 address and a port. More: a bare v6 address.
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        has_port = true;
    }
    auto addr = IpAddress::parse(host);
    if (!addr) return std::nullopt;
    if (!has_port) {
        if (!default_port) return std::nullopt;
        return SocketAddress{*addr, *default_port};
    }
    unsigned port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || p != port_text.data() + port_text.size() || port < 1 || port > 65535)
        return std::nullopt;
    return SocketAddress{*addr, static_cast<uint16_t>(port)};
}

}  // namespace hl
