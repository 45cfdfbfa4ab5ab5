// The registry's etcd part (docs/ETCD.md "Reads"): definitions and other
// hosts' endpoints as the cluster shares them, replaced whole by a list
// (only what changed is dirty, only what the list no longer holds leaves),
// changed one key at a time by the watch, and merged with this host's own
// sources by the usual rules.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "registry/registry.h"

namespace {

using hl::Registry;
using hl::RemoteEndpoint;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Name = Registry::Name;

const Name kWeb{"default", "web"};

hl::Service svc(const std::string& name, const std::string& vip = "", std::vector<std::string> backends = {}) {
    hl::Service s;
    s.name = name;
    if (!vip.empty()) s.vip = *hl::IpAddress::parse(vip);
    s.port = 80;
    for (const auto& b : backends) s.backends.push_back({*hl::IpAddress::parse(b), 8080, 1, hl::BackendState::Active});
    return s;
}

RemoteEndpoint ep(Registry& r, const std::string& host, const std::string& id, const std::string& addr,
                  uint16_t weight = 1) {
    return RemoteEndpoint{id, *hl::IpAddress::parse(addr), r.host_id(host), 8080, weight};
}

std::vector<std::string> backends(const Registry& r, const Name& n) {
    std::vector<std::string> out;
    auto d = r.desired(n);
    if (!d) return out;
    for (const auto& b : d->backends) out.push_back(b.endpoint() + (b.remote ? " remote" : ""));
    return out;
}

template <class T>
const hl::RegistryError* err(const hl::RegResult<T>& r) {
    return std::get_if<hl::RegistryError>(&r);
}

TEST(RegistryEtcd, OtherHostsEndpointsAreRemoteBackendsOfADefinedService) {
    Registry r;
    // An endpoint of a service no source defines yet is kept, not applied.
    EXPECT_TRUE(r.put_remote_endpoint(kWeb, ep(r, "host-b", "b-1", "10.0.0.2")));
    EXPECT_FALSE(r.exists(kWeb));
    EXPECT_TRUE(r.names().empty());
    auto put = r.put_etcd_service(svc("web", "127.255.0.1"), 7);
    ASSERT_FALSE(err(put));
    EXPECT_TRUE(std::get<bool>(put));
    EXPECT_EQ(r.etcd_revision(kWeb), 7);
    EXPECT_THAT(backends(r, kWeb), ElementsAre("10.0.0.2:8080 remote"));
    auto v = r.view(kWeb);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->source, hl::Source::Etcd);
    EXPECT_EQ(v->backends[0].source, hl::Source::Etcd);
    EXPECT_EQ(r.host_name(v->backends[0].host), "host-b");
    EXPECT_EQ(v->backends[0].id, "b-1");
    // This host's registration beside it is local.
    ASSERT_FALSE(err(r.register_endpoint(kWeb, {"a-1", *hl::IpAddress::parse("10.0.0.1"), 8080, 1, {}, {}}, {})));
    EXPECT_THAT(backends(r, kWeb), ElementsAre("10.0.0.1:8080", "10.0.0.2:8080 remote"));
    // The same put again changes nothing; a delete of an unknown key neither.
    EXPECT_FALSE(r.put_remote_endpoint(kWeb, ep(r, "host-b", "b-1", "10.0.0.2")));
    EXPECT_FALSE(r.delete_remote_endpoint(kWeb, r.host_id("host-c"), "b-1"));
    EXPECT_TRUE(r.delete_remote_endpoint(kWeb, r.host_id("host-b"), "b-1"));
    EXPECT_THAT(backends(r, kWeb), ElementsAre("10.0.0.1:8080"));
    EXPECT_EQ(r.remote_endpoint_count(), 0u);
}

TEST(RegistryEtcd, AListReplacesTheEtcdPartWholeAndDirtiesOnlyWhatChanged) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("local", "127.255.0.9", {"10.9.0.1"})}));
    Registry::EtcdSnapshot first;
    first.services.emplace_back(svc("web", "127.255.0.1"), 3);
    first.services.emplace_back(svc("api", "127.255.0.2"), 4);
    first.services.emplace_back(svc("gone", "127.255.0.3"), 5);
    first.endpoints.push_back({kWeb, {ep(r, "host-b", "b-1", "10.0.0.2"), ep(r, "host-c", "c-1", "10.0.0.3")}});
    first.endpoints.push_back({{"default", "api"}, {ep(r, "host-b", "b-2", "10.0.0.4")}});
    EXPECT_TRUE(r.set_etcd_state(std::move(first)).empty());
    r.take_dirty();
    // The next list: api unchanged, web lost c-1, gone is gone, new is new;
    // web's endpoints come in two groups (a page break).
    Registry::EtcdSnapshot next;
    next.services.emplace_back(svc("web", "127.255.0.1"), 3);
    next.services.emplace_back(svc("api", "127.255.0.2"), 4);
    next.services.emplace_back(svc("new", "127.255.0.4"), 9);
    next.endpoints.push_back({{"default", "api"}, {ep(r, "host-b", "b-2", "10.0.0.4")}});
    next.endpoints.push_back({kWeb, {ep(r, "host-b", "b-1", "10.0.0.2")}});
    next.endpoints.push_back({kWeb, {ep(r, "host-d", "d-1", "10.0.0.5")}});
    EXPECT_TRUE(r.set_etcd_state(std::move(next)).empty());
    EXPECT_THAT(r.take_dirty(), ElementsAre(Name{"default", "gone"}, Name{"default", "new"}, kWeb));
    EXPECT_THAT(backends(r, kWeb), ElementsAre("10.0.0.2:8080 remote", "10.0.0.5:8080 remote"));
    EXPECT_FALSE(r.exists({"default", "gone"}));
    EXPECT_TRUE(r.exists({"default", "local"}));  // the file's stays
    EXPECT_EQ(r.etcd_revision({"default", "new"}), 9);
    EXPECT_EQ(r.remote_endpoint_count(), 3u);
    // An empty list (etcd emptied, not unreachable) removes the etcd part only.
    EXPECT_TRUE(r.set_etcd_state({}).empty());
    EXPECT_THAT(r.names(), ElementsAre(Name{"default", "local"}));
    EXPECT_EQ(r.remote_endpoint_count(), 0u);
}

// A list is applied page by page; one that breaks off (etcd went away)
// removes nothing, and the next removes only what it did not hold. A
// definition in the way of another (a VIP that moved) is gone by the end of
// the list: the other is applied then.
TEST(RegistryEtcd, AListAppliedAsItComes) {
    Registry r;
    Registry::EtcdSnapshot first;
    first.services.emplace_back(svc("web", "127.255.0.1"), 3);
    first.services.emplace_back(svc("api", "127.255.0.2"), 4);
    first.endpoints.push_back({kWeb, {ep(r, "host-b", "b-1", "10.0.0.2")}});
    ASSERT_TRUE(r.set_etcd_state(std::move(first)).empty());
    r.take_dirty();
    r.begin_etcd_list();
    r.list_etcd_service(svc("web", "127.255.0.1"), 3);  // and then etcd went away
    EXPECT_TRUE(r.take_dirty().empty()) << "an unchanged definition dirties nothing";
    EXPECT_TRUE(r.exists({"default", "api"})) << "a list that broke off removes nothing";
    EXPECT_THAT(backends(r, kWeb), ElementsAre("10.0.0.2:8080 remote"));
    // The next list: api moved to a new VIP, and `new` took api's old one;
    // `new` comes first (key order) and finds api's old VIP still taken.
    r.begin_etcd_list();
    r.list_etcd_service(svc("new", "127.255.0.2"), 9);
    r.list_etcd_service(svc("api", "127.255.0.7"), 8);
    r.list_remote_endpoints(kWeb, {ep(r, "host-b", "b-1", "10.0.0.2")});
    EXPECT_TRUE(r.end_etcd_list().empty());
    EXPECT_THAT(r.take_dirty(), ElementsAre(Name{"default", "api"}, Name{"default", "new"}, kWeb));
    EXPECT_FALSE(r.exists(kWeb)) << "web's definition was not in the list";
    EXPECT_EQ(r.desired({"default", "new"})->vip->to_string(), "127.255.0.2");
    EXPECT_EQ(r.desired({"default", "api"})->vip->to_string(), "127.255.0.7");
    EXPECT_EQ(r.remote_endpoint_count(), 1u) << "web's endpoints wait for a definition";
}

TEST(RegistryEtcd, TheFileWinsOverEtcdAndAVipClashIsRefused) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1", {"10.9.0.1"})}));
    // etcd defines web otherwise: the file's is in force here, shown as a conflict.
    auto other = svc("web", "127.255.0.1");
    other.port = 8080;
    ASSERT_FALSE(err(r.put_etcd_service(other, 2)));
    auto v = r.view(kWeb);
    EXPECT_EQ(v->source, hl::Source::File);
    EXPECT_TRUE(v->etcd_conflict);
    EXPECT_EQ(r.desired(kWeb)->port, 80);
    // Another service on the file's VIP:port: refused, nothing changes.
    auto clash = r.put_etcd_service(svc("other", "127.255.0.1"), 3);
    ASSERT_TRUE(err(clash));
    EXPECT_THAT(err(clash)->message, HasSubstr("already used by service default/web"));
    EXPECT_FALSE(r.exists({"default", "other"}));
    Registry::EtcdSnapshot snap;
    snap.services.emplace_back(svc("other", "127.255.0.1"), 3);
    auto problems = r.set_etcd_state(std::move(snap));
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_THAT(problems[0], HasSubstr("service default/other"));
    // The DNS responder's name is never etcd's.
    EXPECT_TRUE(err(r.put_etcd_service(svc(Registry::kDnsUdpName), 4)));
    // What this host's API may send to etcd: not a service of its file.
    auto check = r.check_shared_definition(svc("web"));
    ASSERT_TRUE(check);
    EXPECT_THAT(check->message, HasSubstr("config file"));
    EXPECT_FALSE(r.check_shared_definition(svc("fresh", "127.255.0.7")));
    // A file service on a VIP an etcd service uses is refused whole.
    ASSERT_FALSE(err(r.put_etcd_service(svc("api", "127.255.0.5"), 5)));
    auto st = r.set_file_services({svc("web", "127.255.0.1"), svc("mine", "127.255.0.5")});
    ASSERT_FALSE(st);
    EXPECT_THAT(st.error().what(), HasSubstr("(defined in etcd)"));
}

TEST(RegistryEtcd, ARegistrationWaitsForItsDefinition) {
    Registry r;
    hl::Registration a{"a-1", *hl::IpAddress::parse("10.0.0.1"), 8080, 1, {}, {}};
    EXPECT_TRUE(err(r.register_endpoint(kWeb, a, {})));  // the API's answer: no such service
    auto kept = r.register_endpoint(kWeb, a, {}, true);  // the journal's, with etcd
    ASSERT_FALSE(err(kept));
    EXPECT_FALSE(r.exists(kWeb));
    EXPECT_EQ(r.registration_count(), 1u);
    ASSERT_FALSE(err(r.put_etcd_service(svc("web", "127.255.0.1"), 2)));
    EXPECT_THAT(backends(r, kWeb), ElementsAre("10.0.0.1:8080"));
    // The definition leaves: the registration stays for its return.
    EXPECT_TRUE(r.delete_etcd_service(kWeb));
    EXPECT_FALSE(r.exists(kWeb));
    EXPECT_EQ(r.registration_count(), 1u);
}

TEST(RegistryEtcd, WalkRegistrationsResumesWhereItStopped) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("a"), svc("b")}));
    for (auto [svcname, id] : {std::pair{"a", "1"}, {"a", "2"}, {"b", "1"}, {"b", "3"}})
        ASSERT_FALSE(err(r.register_endpoint({"default", svcname}, {id, *hl::IpAddress::parse(std::string("10.0.0.") + id), 80, 1, {}, {}}, {})));
    std::vector<std::string> seen;
    Name at;
    std::string at_id;
    for (int rounds = 0; rounds < 10; ++rounds) {
        size_t room = 3;
        bool more = false;
        r.walk_registrations(at, at_id, [&](const Name& n, const hl::Registration& reg) {
            if (room == 0) {
                at = n;
                at_id = reg.id;
                more = true;
                return false;
            }
            seen.push_back(n.second + "/" + reg.id);
            --room;
            return true;
        });
        if (!more) break;
    }
    EXPECT_THAT(seen, ElementsAre("a/1", "a/2", "b/1", "b/3"));
}

}  // namespace
