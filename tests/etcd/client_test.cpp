// EtcdClient against a real etcd (Debian's etcd-server): KV, CAS, leases,
// watches across restarts and compaction, a three-member cluster losing a
// member. No root needed.
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "etcd/client.h"
#include "model/etcd_endpoint.h"
#include "etcd_cluster.h"
#include "io_runner.h"

namespace {

using namespace std::chrono_literals;
using hl::etcd::CasResult;
using hl::etcd::ClientOptions;
using hl::etcd::DeleteResult;
using hl::etcd::EtcdClient;
using hl::etcd::KeyValue;
using hl::etcd::LeaseGrant;
using hl::etcd::LeaseInfo;
using hl::etcd::PutResult;
using hl::etcd::RangeOptions;
using hl::etcd::RangeResult;
using hl::etcd::WatchBatch;
using hl::etcd::WatchEvent;
using hl::etcd::WatchOptions;
using hl::etcd::WatchStatus;
using hlt::EtcdCluster;
using hlt::IoRunner;

// Test-speed client options: short deadlines and checks.
ClientOptions fast(std::vector<std::string> endpoints) {
    ClientOptions o;
    o.endpoints = std::move(endpoints);
    o.request_timeout = 2s;
    o.reconnect_min = 100ms;
    o.reconnect_max = 500ms;
    o.watch_check_interval = 500ms;
    o.connect_timeout = 1s;
    return o;
}

std::unique_ptr<EtcdClient> make_client(IoRunner& r, std::vector<std::string> endpoints) {
    auto c = EtcdClient::create(r.io, fast(std::move(endpoints)));
    if (!c) throw std::runtime_error(c.error().what());
    return std::move(*c);
}

// Synchronous shorthands over the asynchronous calls.
struct Sync {
    IoRunner& r;
    EtcdClient& c;

    hl::Result<PutResult> put(const std::string& k, const std::string& v, int64_t lease = 0) {
        return r.call<PutResult>([&](auto cb) { c.put(k, v, lease, cb); });
    }
    hl::Result<RangeResult> get(const std::string& k, bool prefix = false, int64_t rev = 0) {
        RangeOptions o;
        o.prefix = prefix;
        o.revision = rev;
        return r.call<RangeResult>([&](auto cb) { c.range(k, o, cb); });
    }
    hl::Result<DeleteResult> del(const std::string& k, bool prefix = false) {
        return r.call<DeleteResult>([&](auto cb) { c.del(k, prefix, cb); });
    }
    hl::Result<LeaseGrant> grant(int64_t ttl) {
        return r.call<LeaseGrant>([&](auto cb) { c.lease_grant(ttl, cb); });
    }
    // A put retried (bounded) while the cluster elects a leader or the client
    // moves on from a dead member; how many tries it took goes to *tries.
    hl::Result<PutResult> put_retry(const std::string& k, const std::string& v, int* tries = nullptr) {
        for (int i = 1;; ++i) {
            auto p = put(k, v);
            if (p || i == 20) {
                if (tries) *tries = i;
                return p;
            }
            r.run_for(200ms);
        }
    }
};

std::string ev_str(const WatchEvent& e) {
    return std::string(e.type == WatchEvent::Type::Put ? "PUT " : "DEL ") + e.kv.key +
           (e.type == WatchEvent::Type::Put ? "=" + e.kv.value : "") + "@" + std::to_string(e.kv.mod_revision);
}

// Collects a watch's events and statuses.
struct Recorder {
    std::vector<WatchEvent> events;
    std::vector<WatchStatus> statuses;
    auto on_events() {
        return [this](WatchBatch b) {
            for (auto& e : b.events) events.push_back(std::move(e));
        };
    }
    auto on_status() {
        return [this](const WatchStatus& s) { statuses.push_back(s); };
    }
    size_t count(WatchStatus::State st) const {
        size_t n = 0;
        for (const auto& s : statuses) n += s.state == st;
        return n;
    }
    std::string keys() const {
        std::string out;
        for (const auto& e : events) out += (out.empty() ? "" : " ") + ev_str(e);
        return out;
    }
};

// ---------------------------------------------------------------- one shared member

class EtcdClientTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (hlt::etcd_binary().empty()) return;
        cluster_ = new EtcdCluster(1);
    }
    static void TearDownTestSuite() {
        delete cluster_;
        cluster_ = nullptr;
    }
    void SetUp() override {
        HL_REQUIRE_ETCD();
        ASSERT_NE(cluster_, nullptr);
        client_ = make_client(r_, cluster_->endpoints());
        prefix_ = std::string("/t/") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "/";
    }
    void TearDown() override { client_.reset(); }

    static EtcdCluster* cluster_;
    IoRunner r_;
    std::unique_ptr<EtcdClient> client_;
    std::string prefix_;
    Sync s() { return Sync{r_, *client_}; }
};
EtcdCluster* EtcdClientTest::cluster_ = nullptr;

TEST_F(EtcdClientTest, PutRangeDelete) {
    auto s = this->s();
    auto p1 = s.put(prefix_ + "a", "1");
    ASSERT_TRUE(p1) << p1.error().what();
    auto p2 = s.put(prefix_ + "b", "2");
    ASSERT_TRUE(p2) << p2.error().what();
    EXPECT_GT(p2->revision, p1->revision);
    ASSERT_TRUE(s.put(prefix_ + "c/x", "3"));
    ASSERT_TRUE(s.put("/t/other", "not under the prefix"));

    auto all = s.get(prefix_, true);
    ASSERT_TRUE(all) << all.error().what();
    ASSERT_EQ(all->kvs.size(), 3u);
    EXPECT_EQ(all->kvs[0].key, prefix_ + "a");  // sorted by key
    EXPECT_EQ(all->kvs[0].value, "1");
    EXPECT_EQ(all->kvs[0].mod_revision, p1->revision);
    EXPECT_EQ(all->kvs[1].value, "2");
    EXPECT_GE(all->revision, p2->revision);

    auto one = s.get(prefix_ + "b");
    ASSERT_TRUE(one);
    ASSERT_EQ(one->kvs.size(), 1u);
    EXPECT_EQ(one->kvs[0].value, "2");
    EXPECT_EQ(one->kvs[0].version, 1);

    // A read at an older revision sees the store as it was.
    ASSERT_TRUE(s.put(prefix_ + "a", "1b"));
    auto old = s.get(prefix_ + "a", false, p1->revision);
    ASSERT_TRUE(old);
    ASSERT_EQ(old->kvs.size(), 1u);
    EXPECT_EQ(old->kvs[0].value, "1");

    auto d = s.del(prefix_ + "a");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->deleted, 1);
    EXPECT_EQ(s.get(prefix_, true)->kvs.size(), 2u);
    auto dp = s.del(prefix_, true);
    ASSERT_TRUE(dp);
    EXPECT_EQ(dp->deleted, 2);
    EXPECT_TRUE(s.get(prefix_, true)->kvs.empty());
    EXPECT_EQ(s.get("/t/other")->kvs.size(), 1u);
    ASSERT_TRUE(s.del("/t/other"));
}

TEST_F(EtcdClientTest, CompareAndSwap) {
    auto& c = *client_;
    std::string k = prefix_ + "svc";
    auto created = r_.call<CasResult>([&](auto cb) { c.create_if_absent(k, "v1", 0, cb); });
    ASSERT_TRUE(created) << created.error().what();
    EXPECT_TRUE(created->succeeded);
    int64_t rev1 = created->revision;

    // A second create loses and is told what won.
    auto again = r_.call<CasResult>([&](auto cb) { c.create_if_absent(k, "other", 0, cb); });
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->succeeded);
    ASSERT_TRUE(again->current);
    EXPECT_EQ(again->current->value, "v1");
    EXPECT_EQ(again->current->mod_revision, rev1);

    auto upd = r_.call<CasResult>([&](auto cb) { c.update_if_unchanged(k, "v2", rev1, 0, cb); });
    ASSERT_TRUE(upd);
    EXPECT_TRUE(upd->succeeded);
    int64_t rev2 = upd->revision;

    // A writer that read rev1 races the one that wrote rev2: refused, not overwritten.
    auto stale = r_.call<CasResult>([&](auto cb) { c.update_if_unchanged(k, "v3", rev1, 0, cb); });
    ASSERT_TRUE(stale);
    EXPECT_FALSE(stale->succeeded);
    ASSERT_TRUE(stale->current);
    EXPECT_EQ(stale->current->value, "v2");
    EXPECT_EQ(stale->current->mod_revision, rev2);

    auto del_stale = r_.call<CasResult>([&](auto cb) { c.delete_if_unchanged(k, rev1, cb); });
    ASSERT_TRUE(del_stale);
    EXPECT_FALSE(del_stale->succeeded);
    auto del = r_.call<CasResult>([&](auto cb) { c.delete_if_unchanged(k, rev2, cb); });
    ASSERT_TRUE(del);
    EXPECT_TRUE(del->succeeded);

    // Updating a key that is gone fails, with no current value.
    auto gone = r_.call<CasResult>([&](auto cb) { c.update_if_unchanged(k, "v4", rev2, 0, cb); });
    ASSERT_TRUE(gone);
    EXPECT_FALSE(gone->succeeded);
    EXPECT_FALSE(gone->current);
}

TEST_F(EtcdClientTest, KeepAliveKeepsKeysPastTheTtlAndStoppingItLetsThemGo) {
    auto s = this->s();
    auto lease = s.grant(2);
    ASSERT_TRUE(lease) << lease.error().what();
    EXPECT_EQ(lease->ttl, 2);
    ASSERT_TRUE(s.put(prefix_ + "ep", "x", lease->id));

    int renewals = 0;
    int lost = 0;
    auto ka = client_->keep_alive(
        lease->id, 2, [&](const hl::Error&) { ++lost; }, [&](int64_t ttl) {
            ++renewals;
            EXPECT_EQ(ttl, 2);
        });
    r_.run_for(3500ms);  // well past the TTL
    EXPECT_EQ(s.get(prefix_ + "ep")->kvs.size(), 1u) << "a kept-alive lease's key vanished";
    EXPECT_GE(renewals, 4) << "renewals every ttl/3 expected";
    EXPECT_EQ(lost, 0);

    // Stop renewing: the key goes once the TTL runs out.
    auto stopped_at = std::chrono::steady_clock::now();
    ka.reset();
    ASSERT_TRUE(r_.until([&] { return s.get(prefix_ + "ep")->kvs.empty(); }, 5s))
        << "the key outlived its lease";
    auto took = std::chrono::steady_clock::now() - stopped_at;
    EXPECT_GE(took, 1500ms) << "the key went before the TTL ran out";
    auto ttl = r_.call<LeaseInfo>([&](auto cb) { client_->lease_time_to_live(lease->id, false, cb); });
    ASSERT_TRUE(ttl);
    EXPECT_EQ(ttl->ttl, -1);

    // Keeping the expired lease alive again reports it lost.
    std::string why;
    auto ka2 = client_->keep_alive(lease->id, 2, [&](const hl::Error& e) { why = e.what(); });
    ASSERT_TRUE(r_.until([&] { return !why.empty(); }, 3s)) << "no lease-lost callback";
    EXPECT_NE(why.find("is gone"), std::string::npos) << why;
}

TEST_F(EtcdClientTest, RevokedLeaseIsReportedLost) {
    auto s = this->s();
    auto lease = s.grant(3);
    ASSERT_TRUE(lease);
    ASSERT_TRUE(s.put(prefix_ + "ep", "x", lease->id));
    std::string why;
    int renewals = 0;
    auto ka = client_->keep_alive(
        lease->id, 3, [&](const hl::Error& e) { why = e.what(); }, [&](int64_t) { ++renewals; });
    ASSERT_TRUE(r_.until([&] { return renewals > 0; }, 3s));
    auto rv = r_.call<hl::Ok>([&](auto cb) { client_->lease_revoke(lease->id, cb); });
    ASSERT_TRUE(rv) << rv.error().what();
    EXPECT_TRUE(s.get(prefix_ + "ep")->kvs.empty());
    ASSERT_TRUE(r_.until([&] { return !why.empty(); }, 3s)) << "no lease-lost callback after a revoke";
    EXPECT_FALSE(ka) << "the loop should have ended";
}

TEST_F(EtcdClientTest, WatchDeliversEveryChangeInOrderFromARevision) {
    auto s = this->s();
    auto first = s.put(prefix_ + "a", "1");
    ASSERT_TRUE(first);
    ASSERT_TRUE(s.put(prefix_ + "b", "2"));
    ASSERT_TRUE(s.del(prefix_ + "a"));
    ASSERT_TRUE(s.put("/t/elsewhere", "not watched"));

    Recorder rec;
    WatchOptions o;
    o.key = prefix_;
    o.start_revision = first->revision;
    o.prev_kv = true;
    auto w = client_->watch(o, rec.on_events(), rec.on_status());
    ASSERT_TRUE(r_.until([&] { return rec.events.size() >= 3; }, 5s)) << rec.keys();
    ASSERT_EQ(rec.count(WatchStatus::State::Connected), 1u);

    // Live changes follow the history.
    ASSERT_TRUE(s.put(prefix_ + "b", "2b"));
    ASSERT_TRUE(s.put(prefix_ + "c", "3"));
    ASSERT_TRUE(r_.until([&] { return rec.events.size() >= 5; }, 5s)) << rec.keys();
    r_.run_for(200ms);
    ASSERT_EQ(rec.events.size(), 5u) << rec.keys();
    const auto& e = rec.events;
    EXPECT_EQ(e[0].type, WatchEvent::Type::Put);
    EXPECT_EQ(e[0].kv.key, prefix_ + "a");
    EXPECT_EQ(e[1].kv.key, prefix_ + "b");
    EXPECT_EQ(e[2].type, WatchEvent::Type::Delete);
    EXPECT_EQ(e[2].kv.key, prefix_ + "a");
    ASSERT_TRUE(e[2].prev);
    EXPECT_EQ(e[2].prev->value, "1");
    EXPECT_EQ(e[3].kv.value, "2b");
    ASSERT_TRUE(e[3].prev);
    EXPECT_EQ(e[3].prev->value, "2");
    EXPECT_EQ(e[4].kv.key, prefix_ + "c");
    for (size_t i = 1; i < e.size(); ++i) EXPECT_GT(e[i].kv.mod_revision, e[i - 1].kv.mod_revision);
    EXPECT_EQ(e[0].kv.mod_revision, first->revision);

    // A stopped watch says nothing more.
    w.reset();
    ASSERT_TRUE(s.put(prefix_ + "d", "4"));
    r_.run_for(300ms);
    EXPECT_EQ(rec.events.size(), 5u);
    ASSERT_TRUE(s.del(prefix_, true));
    ASSERT_TRUE(s.del("/t/elsewhere"));
}

TEST_F(EtcdClientTest, WatchFromACompactedRevisionSaysListAgain) {
    auto s = this->s();
    auto first = s.put(prefix_ + "a", "1");
    ASSERT_TRUE(first);
    ASSERT_TRUE(s.put(prefix_ + "a", "2"));
    auto last = s.put(prefix_ + "a", "3");
    ASSERT_TRUE(last);
    auto comp = r_.call<int64_t>([&](auto cb) { client_->compact(last->revision, true, cb); });
    ASSERT_TRUE(comp) << comp.error().what();

    Recorder rec;
    WatchOptions o;
    o.key = prefix_;
    o.start_revision = first->revision;
    auto w = client_->watch(o, rec.on_events(), rec.on_status());
    ASSERT_TRUE(r_.until([&] { return rec.count(WatchStatus::State::Compacted) > 0; }, 5s));
    EXPECT_TRUE(rec.events.empty()) << rec.keys();
    const auto& st = rec.statuses.back();
    EXPECT_EQ(st.compact_revision, last->revision);
    EXPECT_EQ(st.next_revision, first->revision);
    EXPECT_FALSE(w) << "a compacted watch has ended";

    // A range at the compacted revision is an error that names it.
    auto old = s.get(prefix_ + "a", false, first->revision);
    ASSERT_FALSE(old);
    EXPECT_NE(old.error().what().find("compacted"), std::string::npos) << old.error().what();
    ASSERT_TRUE(s.del(prefix_, true));
}

TEST_F(EtcdClientTest, DestroyingTheClientWithCallsAndStreamsOpenIsClean) {
    int called = 0;
    {
        auto lease = s().grant(5);
        ASSERT_TRUE(lease);
        auto w = client_->watch({prefix_, true, 0, false}, [&](WatchBatch) { ++called; },
                                [&](const WatchStatus&) { ++called; });
        auto ka = client_->keep_alive(lease->id, 5, [&](const hl::Error&) { ++called; });
        client_->range(prefix_, {}, [&](hl::Result<RangeResult>) { ++called; });
        client_->put(prefix_ + "x", "1", 0, [&](hl::Result<PutResult>) { ++called; });
        client_.reset();  // handles outlive the client
    }
    int before = called;
    r_.run_for(300ms);
    EXPECT_EQ(called, before) << "a callback ran after the client was destroyed";
}

// ---------------------------------------------------------------- no etcd needed

TEST(EtcdEndpoint, Parses) {
    using hl::etcd::parse_endpoint;
    EXPECT_EQ(parse_endpoint("http://127.0.0.1:2379")->target, "ipv4:127.0.0.1:2379");
    EXPECT_EQ(parse_endpoint("127.0.0.1:12379/")->target, "ipv4:127.0.0.1:12379");
    EXPECT_EQ(parse_endpoint("http://10.0.0.1")->target, "ipv4:10.0.0.1:2379");
    EXPECT_EQ(parse_endpoint("http://[fd00::1]:2379")->target, "ipv6:[fd00::1]:2379");
    EXPECT_EQ(parse_endpoint("[::1]")->target, "ipv6:[::1]:2379");
    EXPECT_EQ(parse_endpoint("http://etcd-1.example:2379")->target, "dns:///etcd-1.example:2379");
    for (const char* bad : {"https://127.0.0.1:2379", "ftp://x", "http://", "http://:2379", "http://a:0",
                            "http://a:65536", "http://a:12x", "fd00::1:2379", "http://[fd00::1", "http://[zz]:1",
                            "http://a/b", "http://u@a:1", "http://a b:1", "http://a:"}) {
        EXPECT_FALSE(parse_endpoint(bad)) << bad;
    }
    EXPECT_NE(parse_endpoint("https://x").error().what().find("TLS"), std::string::npos);
}

TEST(EtcdClientOptions, RejectsNoEndpointsAndBadOnes) {
    boost::asio::io_context io;
    EXPECT_FALSE(EtcdClient::create(io, ClientOptions{}));
    ClientOptions o;
    o.endpoints = {"http://127.0.0.1:2379", "https://127.0.0.1:2379"};
    auto c = EtcdClient::create(io, o);
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().what().find("https"), std::string::npos);
}

TEST(EtcdClientDown, CallsFailWithTheStatusAndNameTheEndpoint) {
    IoRunner r;
    auto c = make_client(r, {"http://127.0.0.1:1"});  // nothing listens on port 1
    auto got = r.call<RangeResult>([&](auto cb) { c->range("/x", {}, cb); });
    ASSERT_FALSE(got);
    EXPECT_NE(got.error().what().find("UNAVAILABLE"), std::string::npos) << got.error().what();
    EXPECT_NE(got.error().what().find("http://127.0.0.1:1"), std::string::npos) << got.error().what();
}

// ---------------------------------------------------------------- members that go away

TEST(EtcdRestart, WatchResumesFromTheLastRevisionAfterTheMemberRestarts) {
    HL_REQUIRE_ETCD();
    EtcdCluster cluster(1);
    IoRunner r;
    auto c = make_client(r, cluster.endpoints());
    Sync s{r, *c};
    Recorder rec;
    auto w = c->watch({"/r/", true, 0, false}, rec.on_events(), rec.on_status());
    ASSERT_TRUE(r.until([&] { return rec.count(WatchStatus::State::Connected) == 1; }, 5s));
    ASSERT_TRUE(s.put("/r/k1", "1"));
    ASSERT_TRUE(s.put("/r/k2", "2"));
    ASSERT_TRUE(r.until([&] { return rec.events.size() == 2; }, 5s)) << rec.keys();

    cluster.kill(0);  // SIGKILL: what etcd acknowledged is in its WAL
    ASSERT_TRUE(r.until([&] { return rec.count(WatchStatus::State::Disconnected) > 0; }, 5s));
    r.run_for(700ms);  // a few failed reconnects
    cluster.start(0);
    ASSERT_TRUE(cluster.wait_healthy(0)) << cluster.log_tail(0);

    int tries = 0;
    ASSERT_TRUE(s.put_retry("/r/k3", "3", &tries));
    ASSERT_TRUE(s.del("/r/k1"));
    ASSERT_TRUE(r.until([&] { return rec.events.size() >= 4; }, 10s)) << rec.keys();
    r.run_for(300ms);
    ASSERT_EQ(rec.events.size(), 4u) << "lost or repeated events: " << rec.keys();
    EXPECT_EQ(rec.events[0].kv.key, "/r/k1");
    EXPECT_EQ(rec.events[1].kv.key, "/r/k2");
    EXPECT_EQ(rec.events[2].kv.key, "/r/k3");
    EXPECT_EQ(rec.events[3].type, WatchEvent::Type::Delete);
    EXPECT_GE(rec.count(WatchStatus::State::Connected), 2u);
    for (const auto& st : rec.statuses) EXPECT_NE(st.state, WatchStatus::State::Compacted);
}

// Three members; the client's member is killed: calls, the lease and the
// watch carry on through the other two, and the watch misses nothing that
// another client wrote while it was moving.
TEST(EtcdCluster3, KillingTheClientsMemberKeepsEverythingServing) {
    HL_REQUIRE_ETCD();
    EtcdCluster cluster(3);
    IoRunner r;
    auto c = make_client(r, cluster.endpoints());  // m0 first: calls go there
    auto other = make_client(r, {cluster.endpoint(1), cluster.endpoint(2)});
    Sync s{r, *c};
    Sync o{r, *other};

    auto lease = s.grant(2);
    ASSERT_TRUE(lease) << lease.error().what();
    ASSERT_TRUE(s.put("/c/ep/host-a", "a", lease->id));
    std::string lost;
    auto ka = c->keep_alive(lease->id, 2, [&](const hl::Error& e) { lost = e.what(); });
    Recorder rec;
    auto w = c->watch({"/c/", true, 0, false}, rec.on_events(), rec.on_status());
    ASSERT_TRUE(r.until([&] { return rec.count(WatchStatus::State::Connected) == 1; }, 5s));
    ASSERT_EQ(c->current_endpoint(), cluster.endpoint(0));
    ASSERT_TRUE(o.put("/c/before", "1"));

    cluster.kill(0);
    // Writes from the other client while ours finds out and moves on.
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(o.put_retry("/c/during/" + std::to_string(i), "x"));

    // Our client's next write may be the one that finds m0 dead; then it goes on.
    int tries = 0;
    auto p = s.put_retry("/c/after", "2", &tries);
    ASSERT_TRUE(p) << p.error().what();
    EXPECT_LE(tries, 3) << "moving on from a dead member took " << tries << " tries";
    EXPECT_NE(c->current_endpoint(), cluster.endpoint(0));
    auto all = s.get("/c/", true);
    ASSERT_TRUE(all) << all.error().what();
    EXPECT_EQ(all->kvs.size(), 8u);

    ASSERT_TRUE(r.until([&] { return rec.events.size() >= 7; }, 10s)) << rec.keys();
    r.run_for(300ms);
    ASSERT_EQ(rec.events.size(), 7u) << rec.keys();
    EXPECT_EQ(rec.events[0].kv.key, "/c/before");
    for (int i = 0; i < 5; ++i) EXPECT_EQ(rec.events[1 + i].kv.key, "/c/during/" + std::to_string(i));
    EXPECT_EQ(rec.events[6].kv.key, "/c/after");

    // The lease outlives its TTL twice over through the surviving members.
    r.run_for(4s);
    EXPECT_TRUE(lost.empty()) << lost;
    EXPECT_EQ(s.get("/c/ep/host-a")->kvs.size(), 1u) << "the kept-alive key expired";
}

// A paused member (SIGSTOP) keeps its connections open and answers nothing.
// The client's calls time out and move on; the watch notices the silence
// and resumes elsewhere; history compacted meanwhile is reported. The member
// paused is a follower, so the other two carry on without an election.
TEST(EtcdCluster3, PausedMemberIsLeftAndCompactionWhileAwayIsReported) {
    HL_REQUIRE_ETCD();
    EtcdCluster cluster(3);
    int leader = cluster.leader();
    ASSERT_GE(leader, 0) << "no leader";
    size_t f = (static_cast<size_t>(leader) + 1) % 3;  // a follower: our client's first endpoint
    size_t g = (f + 1) % 3;
    size_t h = (f + 2) % 3;
    IoRunner r;
    auto c = make_client(r, {cluster.endpoint(f), cluster.endpoint(g), cluster.endpoint(h)});
    auto other = make_client(r, {cluster.endpoint(g), cluster.endpoint(h)});
    Sync s{r, *c};
    Sync o{r, *other};
    Recorder rec;
    auto w = c->watch({"/p/", true, 0, false}, rec.on_events(), rec.on_status());
    ASSERT_TRUE(r.until([&] { return rec.count(WatchStatus::State::Connected) == 1; }, 5s));
    ASSERT_TRUE(s.put("/p/a", "1"));
    ASSERT_TRUE(r.until([&] { return rec.events.size() == 1; }, 5s));

    // Changes and a compaction while our member is silent (the watch takes
    // two check intervals, 1 s or more, to give up on it).
    auto paused_at = std::chrono::steady_clock::now();
    cluster.pause(f);
    ASSERT_TRUE(o.put("/p/b", "2"));
    auto last = o.put("/p/c", "3");
    ASSERT_TRUE(last);
    auto comp = r.call<int64_t>([&](auto cb) { other->compact(last->revision, true, cb); });
    ASSERT_TRUE(comp) << comp.error().what();
    ASSERT_LT(std::chrono::steady_clock::now() - paused_at, 900ms) << "too slow to test the race";

    ASSERT_TRUE(r.until([&] { return rec.count(WatchStatus::State::Compacted) > 0; }, 10s))
        << "statuses: " << rec.statuses.size() << " events: " << rec.keys();
    EXPECT_EQ(rec.events.size(), 1u) << rec.keys();
    EXPECT_EQ(rec.statuses.back().compact_revision, last->revision);
    EXPECT_NE(c->current_endpoint(), cluster.endpoint(f));

    // The relist the caller does then goes to a live member at once.
    auto t0 = std::chrono::steady_clock::now();
    auto all = s.get("/p/", true);
    ASSERT_TRUE(all) << all.error().what();
    EXPECT_EQ(all->kvs.size(), 3u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);

    // A fresh client whose first endpoint is the paused member: the HTTP/2
    // handshake never completes, so after connect_timeout (1 s here) the read
    // is retried on the next endpoint, within its deadline.
    auto fresh = make_client(r, {cluster.endpoint(f), cluster.endpoint(g)});
    Sync fs{r, *fresh};
    t0 = std::chrono::steady_clock::now();
    auto first = fs.get("/p/", true);
    ASSERT_TRUE(first) << first.error().what();
    EXPECT_EQ(first->kvs.size(), 3u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    EXPECT_EQ(fresh->current_endpoint(), cluster.endpoint(g));
    cluster.resume(f);
}

}  // namespace
