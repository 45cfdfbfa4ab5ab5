// The config's optional dns: block (DESIGN.md "Config", "Names (DNS)"):
// parsed into Config::dns, every problem named by its path and value.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "discovery/config_file.h"

namespace {

using ::testing::HasSubstr;

hl::IpAddress ip(const char* s) { return *hl::IpAddress::parse(s); }
hl::SocketAddress sa(const char* s) { return *hl::SocketAddress::parse(s); }

hl::Config parse_ok(const std::string& yaml) {
    auto r = hl::parse_config(yaml);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what()) << "\n--- yaml:\n" << yaml;
    return r.ok() ? r.value() : hl::Config{};
}

std::string parse_error(const std::string& yaml) {
    auto r = hl::parse_config(yaml);
    EXPECT_FALSE(r.ok()) << "accepted:\n" << yaml;
    return r.ok() ? std::string() : r.error().what();
}

std::string with_dns(const std::string& dns_body, const std::string& services = "services: []\n") {
    return "dns:\n" + dns_body + services;
}

TEST(ConfigDns, DesignExampleParses) {
    hl::Config c = parse_ok(R"(
dns:                              # names for tasks (optional)
  listen: [ "10.200.0.1:53" ]     # the responder, UDP and TCP
  vip: 127.255.255.254            # tasks' resolv.conf: "nameserver 127.255.255.254"
  zone: hopless.internal
  upstreams: [ "10.200.0.53:53" ] # names outside the zone are forwarded; none: REFUSED
services: []
)");
    ASSERT_TRUE(c.dns);
    ASSERT_EQ(c.dns->listen.size(), 1u);
    EXPECT_EQ(c.dns->listen[0], sa("10.200.0.1:53"));
    EXPECT_EQ(c.dns->vip, ip("127.255.255.254"));
    EXPECT_EQ(c.dns->zone, "hopless.internal");
    ASSERT_EQ(c.dns->upstreams.size(), 1u);
    EXPECT_EQ(c.dns->upstreams[0], sa("10.200.0.53:53"));
}

TEST(ConfigDns, AbsentBlockIsNoResponder) { EXPECT_FALSE(parse_ok("services: []\n").dns); }

TEST(ConfigDns, Defaults) {
    hl::Config c = parse_ok(with_dns("  listen: [ 127.0.0.1:5353 ]\n  vip: 127.255.255.254\n"));
    ASSERT_TRUE(c.dns);
    EXPECT_EQ(c.dns->zone, "hopless.internal");
    EXPECT_TRUE(c.dns->upstreams.empty()) << "no upstreams: names outside the zone are REFUSED";
}

TEST(ConfigDns, Ipv6AndSeveralAddresses) {
    hl::Config c = parse_ok(with_dns(
        "  listen: [ \"10.0.0.1:53\", \"[fd00::1]:53\" ]\n"
        "  vip: \"fd00::ffff\"\n"
        "  upstreams: [ \"[fd00::53]:5353\", 10.0.0.53, \"fd00::54\", \"[fd00::55]\" ]\n"));
    ASSERT_TRUE(c.dns);
    ASSERT_EQ(c.dns->listen.size(), 2u);
    EXPECT_EQ(c.dns->listen[1], sa("[fd00::1]:53"));
    EXPECT_EQ(c.dns->vip, ip("fd00::ffff"));
    ASSERT_EQ(c.dns->upstreams.size(), 4u);
    EXPECT_EQ(c.dns->upstreams[0].port, 5353);
    EXPECT_EQ(c.dns->upstreams[1], sa("10.0.0.53:53")) << "an upstream's port defaults to 53";
    EXPECT_EQ(c.dns->upstreams[2], sa("[fd00::54]:53"));
    EXPECT_EQ(c.dns->upstreams[3], sa("[fd00::55]:53"));
}

TEST(ConfigDns, ZoneIsKeptLowercaseWithoutTheTrailingDot) {
    hl::Config c = parse_ok(with_dns("  listen: [ 127.0.0.1:53 ]\n  vip: 127.255.255.254\n  zone: Svc.Example.\n"));
    ASSERT_TRUE(c.dns);
    EXPECT_EQ(c.dns->zone, "svc.example");
}

TEST(ConfigDns, ListenNeedsAPort) {
    EXPECT_THAT(parse_error(with_dns("  listen: [ 10.0.0.1 ]\n  vip: 127.255.255.254\n")),
                HasSubstr("dns.listen[0]: '10.0.0.1' is not ADDR:PORT"));
    EXPECT_THAT(parse_error(with_dns("  listen: [ \"10.0.0.1:53\", \"fd00::1:53\" ]\n  vip: 127.255.255.254\n")),
                HasSubstr("dns.listen[1]: 'fd00::1:53' is not ADDR:PORT"));
    EXPECT_THAT(parse_error(with_dns("  listen: [ \"10.0.0.1:0\" ]\n  vip: 127.255.255.254\n")),
                HasSubstr("dns.listen[0]: '10.0.0.1:0' is not ADDR:PORT"));
    EXPECT_THAT(parse_error(with_dns("  listen: [ \"10.0.0.1:65536\" ]\n  vip: 127.255.255.254\n")),
                HasSubstr("dns.listen[0]: '10.0.0.1:65536' is not ADDR:PORT"));
}

TEST(ConfigDns, MissingAndEmptyListen) {
    EXPECT_THAT(parse_error(with_dns("  vip: 127.255.255.254\n")), HasSubstr("dns.listen: missing"));
    EXPECT_THAT(parse_error(with_dns("  listen: []\n  vip: 127.255.255.254\n")),
                HasSubstr("dns.listen: needs at least one ADDR:PORT"));
    EXPECT_THAT(parse_error(with_dns("  listen: 10.0.0.1:53\n  vip: 127.255.255.254\n")),
                HasSubstr("dns.listen: expected a list, got '10.0.0.1:53'"));
}

TEST(ConfigDns, VipIsRequiredAndAnAddress) {
    EXPECT_THAT(parse_error(with_dns("  listen: [ 10.0.0.1:53 ]\n")), HasSubstr("dns.vip: missing"));
    EXPECT_THAT(parse_error(with_dns("  listen: [ 10.0.0.1:53 ]\n  vip: dns.local\n")),
                HasSubstr("dns.vip: 'dns.local' is not an IPv4 or IPv6 address"));
}

TEST(ConfigDns, BadUpstream) {
    EXPECT_THAT(parse_error(with_dns("  listen: [ 10.0.0.1:53 ]\n  vip: 127.255.255.254\n  upstreams: [ resolver ]\n")),
                HasSubstr("dns.upstreams[0]: 'resolver' is not ADDR[:PORT]"));
    EXPECT_THAT(
        parse_error(with_dns("  listen: [ 10.0.0.1:53 ]\n  vip: 127.255.255.254\n  upstreams: [ \"10.0.0.1:53\" ]\n")),
        HasSubstr("dns.upstreams[0]: 10.0.0.1:53 is the responder itself (a forwarding loop)"));
}

TEST(ConfigDns, BadZone) {
    for (const char* z : {"a..b", "-a.b", "a_b.c", "\"\"", "."})
        EXPECT_THAT(parse_error(with_dns("  listen: [ 10.0.0.1:53 ]\n  vip: 127.255.255.254\n  zone: " + std::string(z) +
                                         "\n")),
                    HasSubstr("dns.zone: "))
            << z;
    EXPECT_THAT(parse_error(with_dns("  listen: [ 10.0.0.1:53 ]\n  vip: 127.255.255.254\n  zone: a..b\n")),
                HasSubstr("dns.zone: 'a..b' is not a DNS name"));
}

TEST(ConfigDns, UnknownKeyNamesThePath) {
    EXPECT_THAT(parse_error(with_dns("  listen: [ 10.0.0.1:53 ]\n  vip: 127.255.255.254\n  ttl: 5\n")),
                HasSubstr("dns.ttl: unknown key (expected one of: listen, vip, zone, upstreams)"));
    EXPECT_THAT(parse_error("dns: [ 1 ]\nservices: []\n"), HasSubstr("dns: expected a mapping, got a list"));
}

TEST(ConfigDns, DuplicateListenAndListenOnTheVip) {
    EXPECT_THAT(parse_error(with_dns("  listen: [ 10.0.0.1:53, 10.0.0.1:53 ]\n  vip: 127.255.255.254\n")),
                HasSubstr("dns.listen[1]: 10.0.0.1:53 is listed twice"));
    EXPECT_THAT(parse_error(with_dns("  listen: [ 127.255.255.254:53 ]\n  vip: 127.255.255.254\n")),
                HasSubstr("dns.listen[0]: 127.255.255.254:53 is on dns.vip"));
}

TEST(ConfigDns, ServiceOnTheDnsVipPort53IsAnError) {
    std::string yaml = with_dns("  listen: [ 10.0.0.1:53 ]\n  vip: 127.255.255.254\n",
                                "services:\n"
                                "  - { name: mydns, vip: 127.255.255.254, port: 53, protocol: udp }\n"
                                "  - { name: other, vip: 127.255.255.254, port: 80 }\n");
    std::string err = parse_error(yaml);
    EXPECT_THAT(err, HasSubstr("services[0].vip: 127.255.255.254:53 is dns.vip"));
    EXPECT_THAT(err, ::testing::Not(HasSubstr("services[1]"))) << "another port on the same VIP is fine";
}

}  // namespace
