// Publisher against a real etcd: what etcd holds of this host's endpoints
// ends equal to what the registry holds, however fast a registration comes
// and goes. No root needed.
#include <gtest/gtest.h>

#include <memory>

#include "cluster/publisher.h"
#include "discovery/etcd_layout.h"
#include "etcd/client.h"
#include "etcd_cluster.h"
#include "io_runner.h"

namespace {

using namespace std::chrono_literals;
using hl::Registration;
using hl::Registry;
using hl::etcd::EtcdClient;
using hl::etcd::RangeOptions;
using hl::etcd::RangeResult;
using hlt::EtcdCluster;
using hlt::IoRunner;

// One id registered and deregistered many times in a row, each change handed
// to the publisher at once, with one write per transaction and 8 in flight:
// the most transactions on one key at a time. Two transactions in flight may
// commit in either order, so each round checks etcd against the registry
// after the publisher's backlog drained (a deregistration committed after
// the registration that followed it would leave etcd without a live endpoint).
TEST(Publisher, RapidChangesOfOneKeyEndAsTheRegistry) {
    EtcdCluster etcd(1);
    IoRunner r;
    hl::etcd::ClientOptions co;
    co.endpoints = etcd.endpoints();
    co.request_timeout = 2s;
    auto client = EtcdClient::create(r.io, co);
    ASSERT_TRUE(client) << client.error().what();

    Registry reg;
    hl::cluster::EtcdCounters counters;
    hl::cluster::Publisher::Options o;
    o.prefix = "/pubtest";
    o.host = "h1";
    o.instance = "i1";
    o.lease_ttl = 30;
    o.batch = 1;
    o.max_inflight = 8;
    hl::cluster::Publisher pub(r.io, **client, reg, o, counters);
    pub.start();
    ASSERT_TRUE(r.until([&] { return pub.lease() != 0; }, 10s)) << "no lease";

    const Registry::Name name{"default", "web"};
    const std::string key = hl::etcd_layout::endpoint_key(o.prefix, name.first, name.second, o.host, "x");
    auto held = [&] {
        RangeOptions ro;
        auto res = r.call<RangeResult>([&](auto cb) { (*client)->range(key, ro, cb); });
        if (!res) throw std::runtime_error(res.error().what());
        return !res->kvs.empty();
    };

    bool registered = false;
    int mismatches = 0;
    const int rounds = 40, changes = 9;
    for (int round = 0; round < rounds; ++round) {
        for (int c = 0; c < changes; ++c) {
            if (registered) {
                ASSERT_FALSE(std::holds_alternative<hl::RegistryError>(reg.deregister(name, "x")));
            } else {
                Registration x;
                x.id = "x";
                x.address = *hl::IpAddress::parse("10.1.2.3");
                x.port = static_cast<uint16_t>(8000 + c);
                ASSERT_FALSE(std::holds_alternative<hl::RegistryError>(
                    reg.register_endpoint(name, x, hl::Clock::now(), /*undefined_ok=*/true)));
            }
            registered = !registered;
            pub.changed(name, "x");
        }
        ASSERT_TRUE(r.until([&] { return pub.backlog() == 0; }, 10s)) << "round " << round << ": backlog stays";
        if (held() != registered) ++mismatches;
    }
    EXPECT_EQ(0, mismatches) << "rounds of " << rounds << " that ended with etcd and the registry apart";
}

}  // namespace
