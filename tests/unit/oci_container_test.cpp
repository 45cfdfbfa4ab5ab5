// What the hook reads about a container: its cgroup v2 line and its address.
#include <gtest/gtest.h>

#include "oci/container.h"

using namespace hl;
using namespace hl::oci;

namespace {
IpAddress ip(const char* s) { return *IpAddress::parse(s); }
}  // namespace

TEST(OciContainer, CgroupV2LineOfAHybridHost) {
    auto p = parse_proc_cgroup("9:name=systemd:/web-1\n8:pids:/web-1\n1:cpu:/web-1\n0::/web-1\n");
    ASSERT_TRUE(p.ok()) << p.error().what();
    EXPECT_EQ(*p, "/web-1");
    auto unified = parse_proc_cgroup("0::/system.slice/a:b.scope\n");
    ASSERT_TRUE(unified.ok());
    EXPECT_EQ(*unified, "/system.slice/a:b.scope");
    EXPECT_EQ(*parse_proc_cgroup("0::/\n"), "/");
}

TEST(OciContainer, CgroupErrors) {
    EXPECT_NE(parse_proc_cgroup("1:cpu:/x\n").error().what().find("no cgroup v2 line"), std::string::npos);
    EXPECT_NE(parse_proc_cgroup("").error().what().find("no cgroup v2 line"), std::string::npos);
    EXPECT_NE(parse_proc_cgroup("0::/x (deleted)\n").error().what().find("removed"), std::string::npos);
    EXPECT_NE(parse_proc_cgroup("0::/../other\n").error().what().find("outside"), std::string::npos);
    EXPECT_NE(parse_proc_cgroup("0::/a/../../b\n").error().what().find("outside"), std::string::npos);
    EXPECT_NE(parse_proc_cgroup("0::x\n").error().what().find("not absolute"), std::string::npos);
}

TEST(OciContainer, GlobalAddresses) {
    EXPECT_TRUE(is_global(ip("10.200.0.11")));
    EXPECT_TRUE(is_global(ip("fd00::12")));
    EXPECT_TRUE(is_global(ip("2001:db8::1")));
    EXPECT_FALSE(is_global(ip("127.0.0.1")));
    EXPECT_FALSE(is_global(ip("127.255.0.1")));
    EXPECT_FALSE(is_global(ip("169.254.1.1")));
    EXPECT_FALSE(is_global(ip("0.0.0.0")));
    EXPECT_FALSE(is_global(ip("224.0.0.1")));
    EXPECT_FALSE(is_global(ip("::1")));
    EXPECT_FALSE(is_global(ip("::")));
    EXPECT_FALSE(is_global(ip("fe80::1")));
    EXPECT_FALSE(is_global(ip("febf::1")));
    EXPECT_FALSE(is_global(ip("ff02::1")));
}

TEST(OciContainer, PickPrefersGlobalIpv4OfAnUpInterface) {
    std::vector<InterfaceAddress> seen{{"lo", ip("127.0.0.1"), true, true},
                                       {"lo", ip("::1"), true, true},
                                       {"eth0", ip("fe80::1"), true, false},
                                       {"eth0", ip("fd00::5"), true, false},
                                       {"eth1", ip("10.9.0.1"), false, false},
                                       {"eth0", ip("10.200.0.11"), true, false}};
    auto a = pick_address(seen);
    ASSERT_TRUE(a.ok()) << a.error().what();
    EXPECT_EQ(a->to_string(), "10.200.0.11");
    seen.pop_back();
    EXPECT_EQ(pick_address(seen)->to_string(), "fd00::5");
}

TEST(OciContainer, NoGlobalAddressListsWhatWasSeen) {
    auto a = pick_address({{"lo", ip("127.0.0.1"), true, true}, {"eth0", ip("10.0.0.1"), false, false}});
    ASSERT_FALSE(a.ok());
    EXPECT_NE(a.error().what().find("lo 127.0.0.1"), std::string::npos);
    EXPECT_NE(a.error().what().find("eth0 10.0.0.1 (down)"), std::string::npos);
    EXPECT_NE(a.error().what().find("io.hopless.address"), std::string::npos);
    EXPECT_NE(pick_address({}).error().what().find("seen: none"), std::string::npos);
}
