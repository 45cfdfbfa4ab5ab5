// The registry's merge rules (DESIGN.md "Desired state from several
// sources") and the journal that keeps the API's state across restarts.
#include "registry/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "registry/journal.h"

namespace {

using hl::Registry;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Name = Registry::Name;

hl::Service svc(const std::string& name, const std::string& vip = "", std::vector<std::string> backends = {}) {
    hl::Service s;
    s.name = name;
    if (!vip.empty()) s.vip = *hl::IpAddress::parse(vip);
    s.port = 80;
    for (const auto& b : backends) s.backends.push_back({*hl::IpAddress::parse(b), 8080, 1, hl::BackendState::Active});
    return s;
}

hl::Registration reg(const std::string& id, const std::string& addr, uint16_t port = 8080,
                     std::optional<uint32_t> ttl = std::nullopt) {
    return hl::Registration{id, *hl::IpAddress::parse(addr), port, 1, ttl, {}};
}

template <class T>
const hl::RegistryError* err(const hl::RegResult<T>& r) {
    return std::get_if<hl::RegistryError>(&r);
}

const hl::Clock::time_point t0{};

TEST(Registry, BackendsAreTheUnionOfTheSourcesOnePerAddress) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1", {"10.0.0.1", "10.0.0.2"})}));
    EXPECT_EQ(r.take_dirty(), (std::vector<Name>{{"default", "web"}}));
    ASSERT_FALSE(err(r.register_endpoint({"default", "web"}, reg("task-3", "10.0.0.3"), t0)));
    // The same address:port as a file backend is one backend.
    ASSERT_FALSE(err(r.register_endpoint({"default", "web"}, reg("dup", "10.0.0.1"), t0)));
    auto d = r.desired({"default", "web"});
    ASSERT_TRUE(d);
    ASSERT_EQ(d->backends.size(), 3u);
    EXPECT_EQ(d->backends[2].address.to_string(), "10.0.0.3");
    auto v = r.view({"default", "web"});
    EXPECT_EQ(v->backends[0].source, hl::Source::File);
    EXPECT_EQ(v->backends[2].source, hl::Source::Api);
    EXPECT_EQ(v->backends[2].id, "task-3");
}

TEST(Registry, OnlyChangedServicesAreDirty) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("a", "127.255.0.1"), svc("b", "127.255.0.2"), svc("c", "127.255.0.3")}));
    r.take_dirty();
    auto b2 = svc("b", "127.255.0.2", {"10.0.0.9"});
    ASSERT_TRUE(r.set_file_services({svc("a", "127.255.0.1"), b2}));  // b changed, c removed
    EXPECT_EQ(r.take_dirty(), (std::vector<Name>{{"default", "b"}, {"default", "c"}}));
    ASSERT_FALSE(err(r.register_endpoint({"default", "a"}, reg("x", "10.0.0.1"), t0)));
    EXPECT_EQ(r.take_dirty(), (std::vector<Name>{{"default", "a"}}));
    // A heartbeat or a refresh that changes nothing the kernel holds is not a change.
    ASSERT_FALSE(err(r.heartbeat({"default", "a"}, "x", t0)));
    ASSERT_FALSE(err(r.register_endpoint({"default", "a"}, reg("x", "10.0.0.1"), t0)));
    EXPECT_TRUE(r.take_dirty().empty());
    EXPECT_FALSE(r.desired({"default", "c"}));
}

TEST(Registry, RegistrationNeedsAService) {
    Registry r;
    auto res = r.register_endpoint({"default", "nope"}, reg("x", "10.0.0.1"), t0);
    ASSERT_TRUE(err(res));
    EXPECT_EQ(err(res)->code, hl::RegistryErrc::NotFound);
    EXPECT_THAT(err(res)->message, HasSubstr("default/nope"));
}

TEST(Registry, SameIdWithAnotherAddressIsAConflict) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1")}));
    ASSERT_FALSE(err(r.register_endpoint({"default", "web"}, reg("t", "10.0.0.1"), t0)));
    auto res = r.register_endpoint({"default", "web"}, reg("t", "10.0.0.2"), t0);
    ASSERT_TRUE(err(res));
    EXPECT_EQ(err(res)->code, hl::RegistryErrc::Conflict);
    EXPECT_THAT(err(res)->message, HasSubstr("10.0.0.1:8080"));
    auto res2 = r.register_endpoint({"default", "web"}, reg("other", "10.0.0.1"), t0);
    ASSERT_TRUE(err(res2));
    EXPECT_THAT(err(res2)->message, HasSubstr("already registered as endpoint 't'"));
    auto vip = r.register_endpoint({"default", "web"}, reg("v", "127.255.0.1", 80), t0);
    ASSERT_TRUE(err(vip));
    EXPECT_THAT(err(vip)->message, HasSubstr("own VIP"));
}

TEST(Registry, TtlExpiresUnlessHeartbeated) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1")}));
    ASSERT_FALSE(err(r.register_endpoint({"default", "web"}, reg("a", "10.0.0.1", 8080, 5), t0)));
    ASSERT_FALSE(err(r.register_endpoint({"default", "web"}, reg("b", "10.0.0.2", 8080, 5), t0)));
    ASSERT_FALSE(err(r.register_endpoint({"default", "web"}, reg("forever", "10.0.0.3"), t0)));
    r.take_dirty();
    EXPECT_EQ(r.next_expiry(), t0 + std::chrono::seconds(5));
    ASSERT_FALSE(err(r.heartbeat({"default", "web"}, "a", t0 + std::chrono::seconds(4))));
    EXPECT_TRUE(r.expire(t0 + std::chrono::seconds(4)).empty());
    auto gone = r.expire(t0 + std::chrono::seconds(5));
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0].second, "b");
    EXPECT_EQ(r.take_dirty(), (std::vector<Name>{{"default", "web"}}));
    EXPECT_EQ(r.desired({"default", "web"})->backends.size(), 2u);
    EXPECT_EQ(r.expire(t0 + std::chrono::seconds(9)).size(), 1u);  // a: heartbeated at 4, ttl 5
    EXPECT_EQ(r.registration_count(), 1u);
}

TEST(Registry, ServiceDefinedByTwoSourcesDifferentlyIsRefusedNamingBoth) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1")}));
    auto res = r.put_api_service(svc("web", "127.255.0.9"));
    ASSERT_TRUE(err(res));
    EXPECT_EQ(err(res)->code, hl::RegistryErrc::Conflict);
    EXPECT_THAT(err(res)->message, HasSubstr("config file"));
    ASSERT_FALSE(err(r.put_api_service(svc("api-svc", "127.255.0.2"))));
    r.take_dirty();
    // The file now defines api-svc too, differently: the whole file is refused.
    auto st = r.set_file_services({svc("web", "127.255.0.1", {"10.0.0.5"}), svc("api-svc", "127.255.0.3")});
    ASSERT_FALSE(st);
    EXPECT_THAT(st.error().what(), HasSubstr("control API"));
    EXPECT_THAT(st.error().what(), HasSubstr("config file"));
    EXPECT_TRUE(r.take_dirty().empty());
    EXPECT_TRUE(r.desired({"default", "web"})->backends.empty());  // the last good state stays
    // A VIP:port an API service holds cannot be taken by the file.
    auto st2 = r.set_file_services({svc("web", "127.255.0.1"), svc("other", "127.255.0.2")});
    ASSERT_FALSE(st2);
    EXPECT_THAT(st2.error().what(), HasSubstr("127.255.0.2:80/tcp is already used by service default/api-svc"));
    // ... nor by another API service.
    auto res3 = r.put_api_service(svc("third", "127.255.0.2"));
    ASSERT_TRUE(err(res3));
    EXPECT_THAT(err(res3)->message, HasSubstr("already used"));
}

TEST(Registry, FileServicesCannotBeDeletedThroughTheApi) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1")}));
    auto res = r.delete_api_service({"default", "web"});
    ASSERT_TRUE(err(res));
    EXPECT_THAT(err(res)->message, HasSubstr("config file"));
    EXPECT_EQ(err(r.delete_api_service({"default", "nope"}))->code, hl::RegistryErrc::NotFound);
}

TEST(Registry, DnsServiceInEveryNamespace) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1")}));
    r.take_dirty();
    std::vector<hl::Backend> listen{{*hl::IpAddress::parse("10.200.0.1"), 53, 1, hl::BackendState::Active}};
    r.set_dns(*hl::IpAddress::parse("127.255.255.254"), listen, {"default", "team-b"});
    EXPECT_THAT(r.take_dirty(), ElementsAre(Name{"default", "hopless-dns"}, Name{"default", "hopless-dns-tcp"},
                                            Name{"team-b", "hopless-dns"}, Name{"team-b", "hopless-dns-tcp"}));
    auto d = r.desired({"team-b", "hopless-dns"});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->protocol, hl::Protocol::Udp);
    EXPECT_EQ(d->port, 53);
    r.set_dns(*hl::IpAddress::parse("127.255.255.254"), listen, {"default"});
    EXPECT_THAT(r.take_dirty(), ElementsAre(Name{"team-b", "hopless-dns"}, Name{"team-b", "hopless-dns-tcp"}));
    EXPECT_EQ(r.namespaces(), (std::set<std::string>{"default"}));
}

class JournalTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/hopless-journal-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string dir_;
};

TEST_F(JournalTest, RegistrationsAndApiServicesSurviveARestartWithFreshTtls) {
    {
        Registry r;
        ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1")}));
        auto j = hl::Journal::open(dir_);
        ASSERT_TRUE(j);
        ASSERT_TRUE((*j)->replay(r, t0));
        auto api = svc("api-svc", "127.255.0.2");
        ASSERT_FALSE(err(r.put_api_service(api)));
        ASSERT_TRUE((*j)->put_service(api));
        for (int i = 0; i < 10; ++i) {
            auto g = reg("t" + std::to_string(i), "10.0.1." + std::to_string(i + 1), 8080, 30);
            ASSERT_FALSE(err(r.register_endpoint({"default", "web"}, g, t0)));
            ASSERT_TRUE((*j)->put_endpoint({"default", "web"}, g));
        }
        ASSERT_FALSE(err(r.deregister({"default", "web"}, "t3")));
        ASSERT_TRUE((*j)->delete_endpoint({"default", "web"}, "t3"));
        auto g = reg("x", "10.0.2.1");
        ASSERT_FALSE(err(r.register_endpoint({"default", "api-svc"}, g, t0)));
        ASSERT_TRUE((*j)->put_endpoint({"default", "api-svc"}, g));
    }
    // A crash mid-write leaves a torn line: it is skipped, the rest restored.
    { std::ofstream(dir_ + "/registry.journal", std::ios::app) << "{\"op\":\"regis"; }
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1")}));
    auto j = hl::Journal::open(dir_);
    ASSERT_TRUE(j);
    auto later = t0 + std::chrono::hours(1);
    auto rep = (*j)->replay(r, later);
    ASSERT_TRUE(rep);
    EXPECT_EQ(rep->services, 1u);
    EXPECT_EQ(rep->registrations, 11u);  // 10 + 1 registered, of which t3 deregistered later
    EXPECT_EQ(rep->skipped, 1u);
    EXPECT_EQ(r.registration_count(), 10u);
    EXPECT_EQ(r.desired({"default", "web"})->backends.size(), 9u);
    EXPECT_EQ(r.desired({"default", "api-svc"})->backends.size(), 1u);
    // Every TTL starts afresh at the restart.
    EXPECT_EQ(r.next_expiry(), later + std::chrono::seconds(30));
    // The replay compacted the journal to what is live.
    std::ifstream in(dir_ + "/registry.journal");
    size_t lines = 0;
    for (std::string l; std::getline(in, l);) ++lines;
    EXPECT_EQ(lines, 11u);  // 1 service + 10 registrations
}

}  // namespace

// ---- health overlays state (DESIGN.md "Desired state from several sources")

namespace {

hl::IpAddress ip(const std::string& s) { return *hl::IpAddress::parse(s); }

std::vector<hl::BackendState> states(const std::optional<hl::Service>& s) {
    std::vector<hl::BackendState> out;
    for (const auto& b : s->backends) out.push_back(b.state);
    return out;
}

using hl::BackendState;

TEST(RegistryHealth, AnUnhealthyBackendIsQuarantinedOneServiceDirty) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1", {"10.0.0.1", "10.0.0.2"}), svc("api", "127.255.0.2", {"10.0.0.9"})}));
    (void)r.take_dirty();
    EXPECT_TRUE(r.set_backend_health({"default", "web"}, ip("10.0.0.2"), 8080, false));
    EXPECT_EQ(r.take_dirty(), (std::vector<Name>{{"default", "web"}}));
    bool fail_open = true;
    auto d = r.desired({"default", "web"}, &fail_open);
    EXPECT_FALSE(fail_open);
    EXPECT_THAT(states(d), ElementsAre(BackendState::Active, BackendState::Quarantined));
    EXPECT_FALSE(r.set_backend_health({"default", "web"}, ip("10.0.0.2"), 8080, false)) << "no change";
    EXPECT_TRUE(r.take_dirty().empty());
    EXPECT_TRUE(r.set_backend_health({"default", "web"}, ip("10.0.0.2"), 8080, true));
    EXPECT_THAT(states(r.desired({"default", "web"})), ElementsAre(BackendState::Active, BackendState::Active));
    // A flag for a backend the service does not have changes nothing.
    EXPECT_FALSE(r.set_backend_health({"default", "web"}, ip("10.0.0.7"), 8080, false));
    EXPECT_FALSE(r.set_backend_health({"default", "nope"}, ip("10.0.0.1"), 8080, false));
}

TEST(RegistryHealth, EveryUsableBackendUnhealthyFailsOpen) {
    Registry r;
    auto s = svc("web", "127.255.0.1", {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"});
    s.backends[2].state = BackendState::Draining;  // takes no new connects anyway
    s.backends[3].weight = 0;
    ASSERT_TRUE(r.set_file_services({s}));
    (void)r.set_backend_health({"default", "web"}, ip("10.0.0.1"), 8080, false);
    bool fail_open = true;
    auto d = r.desired({"default", "web"}, &fail_open);
    EXPECT_FALSE(fail_open);
    EXPECT_THAT(states(d), ElementsAre(BackendState::Quarantined, BackendState::Active, BackendState::Draining,
                                       BackendState::Active));
    // The last usable one fails too: all of them take connects again rather
    // than every connect being refused.
    (void)r.set_backend_health({"default", "web"}, ip("10.0.0.2"), 8080, false);
    d = r.desired({"default", "web"}, &fail_open);
    EXPECT_TRUE(fail_open);
    EXPECT_THAT(states(d), ElementsAre(BackendState::Active, BackendState::Active, BackendState::Draining,
                                       BackendState::Active));
    // One recovers: the other is quarantined again.
    (void)r.set_backend_health({"default", "web"}, ip("10.0.0.1"), 8080, true);
    d = r.desired({"default", "web"}, &fail_open);
    EXPECT_FALSE(fail_open);
    EXPECT_THAT(states(d), ElementsAre(BackendState::Active, BackendState::Quarantined, BackendState::Draining,
                                       BackendState::Active));
}

TEST(RegistryHealth, FlagsOutliveAReloadAndARegistrationButNotTheService) {
    Registry r;
    ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1", {"10.0.0.1", "10.0.0.2"})}));
    ASSERT_FALSE(err(r.register_endpoint({"default", "web"}, reg("task-3", "10.0.0.3"), t0)));
    (void)r.set_backend_health({"default", "web"}, ip("10.0.0.1"), 8080, false);
    (void)r.set_backend_health({"default", "web"}, ip("10.0.0.3"), 8080, false);
    // The file changes the service (a weight): the flags stay.
    auto s = svc("web", "127.255.0.1", {"10.0.0.1", "10.0.0.2"});
    s.backends[1].weight = 5;
    ASSERT_TRUE(r.set_file_services({s}));
    EXPECT_THAT(states(r.desired({"default", "web"})),
                ElementsAre(BackendState::Quarantined, BackendState::Active, BackendState::Quarantined));
    // The registration heartbeats and re-registers: its flag stays too.
    ASSERT_FALSE(err(r.register_endpoint({"default", "web"}, reg("task-3", "10.0.0.3"), t0)));
    EXPECT_EQ(states(r.desired({"default", "web"}))[2], BackendState::Quarantined);
    // The service goes and comes back: no flag is left.
    ASSERT_FALSE(err(r.deregister({"default", "web"}, "task-3")));
    ASSERT_TRUE(r.set_file_services({}));
    EXPECT_FALSE(r.exists({"default", "web"}));
    ASSERT_TRUE(r.set_file_services({svc("web", "127.255.0.1", {"10.0.0.1", "10.0.0.2"})}));
    EXPECT_THAT(states(r.desired({"default", "web"})), ElementsAre(BackendState::Active, BackendState::Active));
}

}  // namespace
