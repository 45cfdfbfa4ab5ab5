// hl::IpAddress and hl::IpPrefix: parsing and printing of the literals the
// config and the CLI accept, and the 16-byte form the kernel ABI uses.
#include <gtest/gtest.h>

#include <array>

#include "model/address.h"

namespace {

using hl::IpAddress;
using hl::IpPrefix;

IpAddress addr(const char* text) {
    auto a = IpAddress::parse(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(IpAddress{});
}

TEST(IpAddress, V4IsStoredV4Mapped) {
    IpAddress a = addr("10.200.0.11");
    const std::array<uint8_t, 16> want = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 200, 0, 11};
    EXPECT_EQ(a.bytes(), want);
    EXPECT_TRUE(a.is_v4());
    EXPECT_EQ(a.v4_host_order(), 0x0AC8000Bu);
    EXPECT_EQ(a.to_string(), "10.200.0.11");
    EXPECT_EQ(a, IpAddress::v4(0x0AC8000Bu));
}

TEST(IpAddress, V4MappedV6LiteralIsTheSameAddressAsV4) {
    // connect6 with ::ffff:127.255.0.1 must find the key of 127.255.0.1.
    EXPECT_EQ(addr("::ffff:127.255.0.1"), addr("127.255.0.1"));
    EXPECT_EQ(addr("::ffff:127.255.0.1").to_string(), "127.255.0.1");
}

TEST(IpAddress, V6ParsesAndPrintsCanonically) {
    IpAddress a = addr("fd00:0:0:0:0:0:0:12");
    EXPECT_FALSE(a.is_v4());
    EXPECT_EQ(a.bytes()[0], 0xfd);
    EXPECT_EQ(a.bytes()[15], 0x12);
    EXPECT_EQ(a.to_string(), "fd00::12");
    EXPECT_EQ(addr("::1").to_string(), "::1");
    EXPECT_FALSE(addr("::").is_v4());
    EXPECT_EQ(addr("::").to_string(), "::");
}

TEST(IpAddress, BracketsAroundV6AreOptional) {
    EXPECT_EQ(addr("[fd00::12]"), addr("fd00::12"));
    EXPECT_EQ(addr("[::1]").to_string(), "::1");
}

TEST(IpAddress, WithPortBracketsOnlyV6) {
    EXPECT_EQ(addr("127.255.0.1").with_port(80), "127.255.0.1:80");
    EXPECT_EQ(addr("fd00::12").with_port(8080), "[fd00::12]:8080");
}

TEST(IpAddress, GarbageIsRejected) {
    for (const char* bad : {"", " ", "[]", "[", "]", "web", "localhost", "1.2.3", "1.2.3.4.5", "256.1.1.1",
                            "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/32", "1.2.3.4:80", "[fd00::1", "fd00::1]",
                            "fd00:::1", "fd00::1::2", "gggg::1", "fe80::1%eth0", "[[fd00::1]]",
                            "12345678901234567890123456789012345678901234567890"})
        EXPECT_FALSE(IpAddress::parse(bad).has_value()) << "'" << bad << "'";
}

TEST(IpAddress, OrderingAndEquality) {
    EXPECT_LT(addr("10.0.0.1"), addr("10.0.0.2"));
    EXPECT_NE(addr("10.0.0.1"), addr("fd00::1"));
    EXPECT_EQ(IpAddress::from_bytes(addr("fd00::1").bytes().data()), addr("fd00::1"));
}

TEST(IpPrefix, ParsesAndPrints) {
    auto p = IpPrefix::parse("127.255.0.0/16");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->length, 16);
    EXPECT_TRUE(p->base.is_v4());
    EXPECT_EQ(p->to_string(), "127.255.0.0/16");

    auto q = IpPrefix::parse("fd00::/8");
    ASSERT_TRUE(q);
    EXPECT_EQ(q->length, 8);
    EXPECT_EQ(q->to_string(), "fd00::/8");

    auto r = IpPrefix::parse("[fd00::]/64");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->to_string(), "fd00::/64");
}

TEST(IpPrefix, LengthIsInTheAddressFamily) {
    EXPECT_TRUE(IpPrefix::parse("10.0.0.0/0"));
    EXPECT_TRUE(IpPrefix::parse("10.0.0.1/32"));
    EXPECT_FALSE(IpPrefix::parse("10.0.0.0/33"));  // 33 is a v6 length only
    EXPECT_TRUE(IpPrefix::parse("fd00::/128"));
    EXPECT_FALSE(IpPrefix::parse("fd00::/129"));
}

TEST(IpPrefix, GarbageIsRejected) {
    for (const char* bad : {"", "/", "127.255.0.0", "127.255.0.0/", "/16", "127.255.0.0/-1", "127.255.0.0/+16",
                            "127.255.0.0/16x", "127.255.0.0/ 16", "127.255.0.0/1/6", "web/16", "127.255.0/16",
                            "127.255.0.0/0x10"})
        EXPECT_FALSE(IpPrefix::parse(bad).has_value()) << "'" << bad << "'";
}

TEST(IpPrefix, ContainsV4) {
    auto p = *IpPrefix::parse("127.255.0.0/16");
    EXPECT_TRUE(p.contains(addr("127.255.0.0")));
    EXPECT_TRUE(p.contains(addr("127.255.0.1")));
    EXPECT_TRUE(p.contains(addr("127.255.255.255")));
    EXPECT_FALSE(p.contains(addr("127.254.255.255")));
    EXPECT_FALSE(p.contains(addr("127.0.0.1")));
    EXPECT_FALSE(p.contains(addr("128.255.0.1")));
    // A v4 prefix never contains a v6 address, even one with the same low bits.
    EXPECT_FALSE(p.contains(addr("::7fff:1")));
    EXPECT_FALSE(p.contains(addr("fd00::1")));
}

TEST(IpPrefix, ContainsAtOddLengths) {
    auto p = *IpPrefix::parse("10.0.0.0/9");  // 10.0.0.0 - 10.127.255.255
    EXPECT_TRUE(p.contains(addr("10.127.255.255")));
    EXPECT_FALSE(p.contains(addr("10.128.0.0")));

    auto host = *IpPrefix::parse("10.1.2.3/32");
    EXPECT_TRUE(host.contains(addr("10.1.2.3")));
    EXPECT_FALSE(host.contains(addr("10.1.2.2")));

    auto all = *IpPrefix::parse("0.0.0.0/0");
    EXPECT_TRUE(all.contains(addr("255.255.255.255")));
    EXPECT_TRUE(all.contains(addr("1.2.3.4")));
    EXPECT_FALSE(all.contains(addr("fd00::1")));
}

TEST(IpPrefix, ContainsV6) {
    auto p = *IpPrefix::parse("fd00:1::/33");
    EXPECT_TRUE(p.contains(addr("fd00:1::1")));
    EXPECT_TRUE(p.contains(addr("fd00:1:7fff::1")));
    EXPECT_FALSE(p.contains(addr("fd00:1:8000::1")));
    EXPECT_FALSE(p.contains(addr("fd00:2::1")));
    EXPECT_FALSE(p.contains(addr("10.0.0.1")));

    auto all = *IpPrefix::parse("::/0");
    EXPECT_TRUE(all.contains(addr("fd00::1")));
    EXPECT_FALSE(all.contains(addr("10.0.0.1")));  // v4 is its own family
}

}  // namespace

// hl::SocketAddress: ADDR:PORT as dns.listen and dns.upstreams take it.
namespace {

TEST(SocketAddress, ParsesV4AndBracketedV6WithPort) {
    auto a = hl::SocketAddress::parse("10.0.0.1:53");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->address, addr("10.0.0.1"));
    EXPECT_EQ(a->port, 53);
    EXPECT_EQ(a->to_string(), "10.0.0.1:53");
    auto b = hl::SocketAddress::parse("[fd00::1]:5353");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->address, addr("fd00::1"));
    EXPECT_EQ(b->to_string(), "[fd00::1]:5353");
}

TEST(SocketAddress, DefaultPortOnlyWhenGiven) {
    EXPECT_FALSE(hl::SocketAddress::parse("10.0.0.1"));
    EXPECT_EQ(hl::SocketAddress::parse("10.0.0.1", 53)->port, 53);
    EXPECT_EQ(hl::SocketAddress::parse("fd00::1:53", 53)->address, addr("fd00::1:53"))
        << "a bare v6 address never carries a port";
    EXPECT_EQ(hl::SocketAddress::parse("[fd00::1]", 53)->port, 53);
}

TEST(SocketAddress, Rejects) {
    for (const char* s : {"", ":53", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:5x", "[fd00::1]53",
                          "[fd00::1", "host:53", "10.0.0.1:+53", "[10.0.0.1]:-1"})
        EXPECT_FALSE(hl::SocketAddress::parse(s, 53)) << s;
}

}  // namespace
