// An IPv4 or IPv6 address in the form the kernel ABI uses: 16 bytes, v4
// stored v4-mapped (::ffff:a.b.c.d), so one type serves both families.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hl {

class IpAddress {
public:
    IpAddress() = default;
    static IpAddress v4(uint32_t host_order);
    static IpAddress from_bytes(const uint8_t* b16);
    // Accepts "a.b.c.d", "fd00::1", "[fd00::1]"; nullopt for anything else.
    static std::optional<IpAddress> parse(std::string_view text);

    bool is_v4() const;
    uint32_t v4_host_order() const;  // only when is_v4()
    const std::array<uint8_t, 16>& bytes() const { return b_; }
    std::string to_string() const;
    // "a.b.c.d:port" or "[v6]:port"
    std::string with_port(uint16_t port) const;

    auto operator<=>(const IpAddress&) const = default;

private:
    std::array<uint8_t, 16> b_{};
};

// A CIDR range, for vip_pool.
struct IpPrefix {
    IpAddress base;
    int length = 0;  // in the address's own family (0..32 for v4)
    static std::optional<IpPrefix> parse(std::string_view text);
    bool contains(const IpAddress& a) const;
    std::string to_string() const;
};

// An address and a port: a socket's address (dns.listen, dns.upstreams).
struct SocketAddress {
    IpAddress address;
    uint16_t port = 0;

    // "a.b.c.d:PORT" or "[v6]:PORT"; with a default_port also "a.b.c.d",
    // "v6" and "[v6]" (an IPv6 address with a port needs the brackets).
    // The port is 1-65535. nullopt for anything else.
    static std::optional<SocketAddress> parse(std::string_view text, std::optional<uint16_t> default_port = {});
    std::string to_string() const { return address.with_port(port); }

    auto operator<=>(const SocketAddress&) const = default;
};

}  // namespace hl
