// VipRefs: counts of the pool's VIPs in use, dense for a small pool, sparse
// for a large one; addresses outside the pool are not counted.
#include <gtest/gtest.h>

#include "datapath/vip_refs.h"

namespace {

hl::IpAddress ip(const char* s) { return *hl::IpAddress::parse(s); }
hl::IpPrefix pool(const char* s) { return *hl::IpPrefix::parse(s); }

TEST(VipRefs, CountsPoolAddressesDenseAndSparse) {
    for (const char* p : {"127.255.0.0/16", "10.0.0.0/8", "fd00::/64", "fd00::/112"}) {
        SCOPED_TRACE(p);
        hl::VipRefs r;
        r.reset(pool(p));
        EXPECT_TRUE(r.same_pool(pool(p)));
        const auto a = pool(p).base;
        EXPECT_EQ(r.count(a), 0u);
        r.add(a, +1);
        r.add(a, +1);
        EXPECT_EQ(r.count(a), 2u);
        r.add(a, -1);
        EXPECT_EQ(r.count(a), 1u);
        r.add(a, -1);
        EXPECT_EQ(r.count(a), 0u);
    }
}

TEST(VipRefs, LastAddressOfThePoolAndOutside) {
    hl::VipRefs r;
    r.reset(pool("127.255.0.0/16"));
    r.add(ip("127.255.255.255"), +1);
    r.add(ip("127.255.0.1"), +1);
    EXPECT_EQ(r.count(ip("127.255.255.255")), 1u);
    EXPECT_EQ(r.count(ip("127.255.0.1")), 1u);
    EXPECT_EQ(r.count(ip("127.255.0.2")), 0u);
    r.add(ip("127.254.0.1"), +1);  // outside: never allocated, never counted
    EXPECT_EQ(r.count(ip("127.254.0.1")), 0u);
    EXPECT_FALSE(r.same_pool(pool("127.254.0.0/16")));
    r.reset(pool("127.254.0.0/16"));
    EXPECT_EQ(r.count(ip("127.255.0.1")), 0u);
}

}  // namespace
