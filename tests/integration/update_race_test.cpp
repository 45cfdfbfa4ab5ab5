// Invariant 1, proven under load: clients connect in a bounded loop while the
// service's backend set is rewritten over a thousand times (adds, removals,
// weight changes, whole replacement) and once across a restart that adopts
// the pinned state. Every connect must land on a backend of a set that was in
// force at some moment during that connect, and none may fail.
#include <sys/mman.h>
#include <unistd.h>
#include <time.h>

#include <random>
#include <set>
#include <sstream>

#include "harness.h"

using namespace hlt;

namespace {

uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct Epoch {
    uint64_t begin = 0, end = 0;  // the apply that installed this set
    std::set<std::string> names;
};

}  // namespace

TEST(UpdateRace, ConnectsLandOnTheOldOrNewSetNeverElsewhere) {
    HL_REQUIRE_BPF();
    TestDatapath dp;
    TestCgroup cg("hl-race");
    constexpr int kServers = 8, kClients = 4, kRewrites = 1200;
    std::vector<std::unique_ptr<TcpServer>> servers;
    for (int i = 0; i < kServers; ++i) servers.push_back(std::make_unique<TcpServer>(std::string(1, char('a' + i))));

    std::mt19937 rng(12345);
    auto pick = [&](hl::Config& c, Epoch& e) {
        auto& s = c.services[0];
        s.backends.clear();
        e.names.clear();
        for (int i = 0; i < kServers; ++i) {
            if (rng() % 2 && e.names.size() < kServers - 1) continue;
            hl::Backend b;
            b.address = *hl::IpAddress::parse("127.0.0.1");
            b.port = servers[i]->port();
            b.weight = static_cast<uint16_t>(1 + rng() % 5);
            s.backends.push_back(b);
            e.names.insert(servers[i]->name());
        }
        if (s.backends.empty()) {  // never empty: an empty set refuses by design
            hl::Backend b;
            b.address = *hl::IpAddress::parse("127.0.0.1");
            b.port = servers[0]->port();
            s.backends.push_back(b);
            e.names.insert(servers[0]->name());
        }
    };
    hl::Config cfg;
    cfg.pin_dir = dp.pin_dir();
    cfg.services = {service("race", "127.255.0.99", 80, {}, hl::Algorithm::Weighted)};
    cfg.attach = {{cg.path(), "default"}};
    std::vector<Epoch> epochs(1);
    pick(cfg, epochs[0]);
    epochs[0].begin = now_ns();
    dp.apply(cfg);
    epochs[0].end = now_ns();

    // stop[0]: the clients stop; stop[1]: they start. Every client is forked
    // before any dials: a fork while the servers' threads handle connections
    // could copy a lock one of them holds (the sanitizers' allocator's) into
    // a child that then waits on it forever.
    auto* stop = static_cast<std::atomic<int>*>(
        mmap(nullptr, 2 * sizeof(std::atomic<int>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(stop, MAP_FAILED);
    new (stop) std::atomic<int>(0);
    new (stop + 1) std::atomic<int>(0);
    std::vector<std::unique_ptr<Child>> clients;
    for (int c = 0; c < kClients; ++c)
        clients.push_back(std::make_unique<Child>(cg.path(), [stop] {
            std::ostringstream out;
            uint64_t deadline = now_ns() + 60ull * 1000000000ull;  // bound even if the parent dies
            while (!stop[1].load() && now_ns() < deadline) usleep(100);
            for (int i = 0; i < 200000 && !stop->load() && now_ns() < deadline; ++i) {
                uint64_t t0 = now_ns();
                auto r = dial_tcp("127.255.0.99", 80);
                uint64_t t1 = now_ns();
                out << t0 << ' ' << t1 << ' ' << r.err << ' ' << (r.reply.empty() ? "-" : r.reply) << '\n';
            }
            return out.str();
        }));

    stop[1].store(1);

    int restarts = 0;
    for (int i = 1; i <= kRewrites; ++i) {
        Epoch e;
        pick(cfg, e);
        if (i == kRewrites / 2) {
            dp.stop();  // the daemon dies; the pinned datapath carries on
            usleep(20000);
            dp.restart();
            ++restarts;
        }
        e.begin = now_ns();
        dp.apply(cfg);
        e.end = now_ns();
        epochs.push_back(e);
        usleep(500);
    }
    stop->store(1);

    uint64_t total = 0, failed = 0, misrouted = 0;
    std::string first_problem;
    for (auto& c : clients) {
        std::istringstream in(c->join());
        uint64_t t0, t1;
        int err;
        std::string who;
        while (in >> t0 >> t1 >> err >> who) {
            ++total;
            if (err != 0 || who == "-") {
                ++failed;
                if (first_problem.empty()) first_problem = "connect failed errno " + std::to_string(err);
                continue;
            }
            // Sets possibly in force during [t0, t1]: epoch k is visible from
            // its apply's begin until the next epoch's apply ends.
            bool ok = false;
            for (size_t k = 0; k < epochs.size() && !ok; ++k) {
                uint64_t from = epochs[k].begin;
                uint64_t until = k + 1 < epochs.size() ? epochs[k + 1].end : UINT64_MAX;
                if (from <= t1 && until >= t0 && epochs[k].names.count(who)) ok = true;
            }
            if (!ok) {
                ++misrouted;
                if (first_problem.empty()) first_problem = "landed on '" + who + "' outside the sets in force";
            }
        }
    }
    munmap(stop, 2 * sizeof(std::atomic<int>));
    std::printf("update race: %d rewrites, %d restart, %llu connects, %llu failed, %llu misrouted\n", kRewrites,
                restarts, static_cast<unsigned long long>(total), static_cast<unsigned long long>(failed),
                static_cast<unsigned long long>(misrouted));
    ::testing::Test::RecordProperty("connects", std::to_string(total));
    ::testing::Test::RecordProperty("misrouted", std::to_string(misrouted));
    EXPECT_GT(total, 1000u) << "too few connects raced the rewrites to prove anything";
    EXPECT_EQ(failed, 0u) << first_problem;
    EXPECT_EQ(misrouted, 0u) << first_problem;
}
