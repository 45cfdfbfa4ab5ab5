// Integration harness: the real kernel, real sockets, real cgroups.
// Every fixture owns what it makes (pin dir, cgroups, servers, children) and
// removes it in its destructor, so a failing test leaves nothing behind.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bpf/links.h"
#include "bpf/object.h"
#include "bpf/socket_terminator.h"
#include "datapath/cgroup_attacher.h"
#include "datapath/inventory.h"
#include "datapath/kernel_map_store.h"
#include "datapath/reconciler.h"
#include "model/config.h"

namespace hlt {

// Skips (or, under HOPLESS_REQUIRE_BPF=1, fails) when not root or no BPF.
#define HL_REQUIRE_BPF()                                              \
    do {                                                              \
        std::string why_;                                             \
        if (!::hlt::bpf_available(why_)) {                            \
            if (::hlt::bpf_required()) FAIL() << "BPF required: " << why_; \
            GTEST_SKIP() << why_;                                     \
        }                                                             \
    } while (0)

bool bpf_available(std::string& why);
bool bpf_required();
std::string unique(const std::string& prefix);

class TestCgroup {
public:
    explicit TestCgroup(const std::string& name, const TestCgroup* parent = nullptr);
    ~TestCgroup();
    const std::string& path() const { return path_; }
    uint64_t id() const { return id_; }

private:
    std::string path_;
    uint64_t id_ = 0;
};

// The datapath loaded under its own pin dir, with a reconciler over it:
// what hoplessd runs, without the daemon around it.
class TestDatapath {
public:
    TestDatapath();
    ~TestDatapath();
    const std::string& pin_dir() const { return pin_dir_; }
    void apply(const hl::Config& c);                 // asserts success
    hl::Result<hl::ApplyReport> try_apply(const hl::Config& c);
    // Drops the loaded object and reconciler (the pins stay), as a daemon
    // that exits; restart() loads and adopts again.
    void stop();
    void restart();
    hl::MapSet& maps() { return maps_; }
    const hl::DatapathObject& object() const { return *obj_; }
    // What the daemon does after an apply: end the sockets of removed backends.
    uint64_t terminate(const hl::ApplyReport& r, const std::vector<std::string>& cgroups);
    hl::Inventory inventory() const { return hl::read_inventory(maps_); }
    hl_service_stats service_stats(const std::string& name) const;
    uint64_t backend_connections(const std::string& service, uint16_t backend_port) const;

private:
    void load();
    std::string pin_dir_;
    std::unique_ptr<hl::DatapathObject> obj_;
    hl::ProgramSet progs_;
    std::unique_ptr<hl::LinkStore> links_;
    std::unique_ptr<hl::KernelMapStore> store_;
    std::unique_ptr<hl::KernelCgroupAttacher> attacher_;
    std::unique_ptr<hl::Reconciler> rec_;
    std::unique_ptr<hl::SocketTerminator> term_;
    hl::MapSet maps_;
};

// A TCP server on loopback that answers every connection with its name and
// closes. Counts accepted connections.
class TcpServer {
public:
    TcpServer(const std::string& name, const std::string& addr = "127.0.0.1");
    ~TcpServer();
    uint16_t port() const { return port_; }
    const std::string& name() const { return name_; }
    uint64_t accepted() const { return accepted_.load(); }

private:
    std::string name_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<uint64_t> accepted_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// A UDP server on loopback that answers each datagram with its name.
class UdpServer {
public:
    UdpServer(const std::string& name, const std::string& addr = "127.0.0.1");
    ~UdpServer();
    uint16_t port() const { return port_; }

private:
    std::string name_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

struct DialResult {
    int err = 0;            // errno of connect(), 0 on success
    std::string reply;      // what the server said
    std::string peer;       // getpeername() as "addr:port"
};

// Connects (TCP) to addr:port, reads the reply, closes with RST so no
// TIME_WAIT piles up across thousands of test connects.
DialResult dial_tcp(const std::string& addr, uint16_t port);
// Unconnected UDP: sendto VIP, recvfrom; peer is the reply's source.
DialResult udp_sendto(const std::string& addr, uint16_t port);
// Connected UDP: connect, send, recv; peer is getpeername().
DialResult udp_connected(const std::string& addr, uint16_t port);

// Runs fn in a child process that first joins the cgroup (path "" = stay
// where the test runs); returns what fn returned (a string through a pipe).
std::string in_cgroup(const std::string& cgroup_path, const std::function<std::string()>& fn);
// Starts a child in the cgroup that runs fn in the background; join() waits.
class Child {
public:
    Child(const std::string& cgroup_path, const std::function<std::string()>& fn);
    ~Child();
    std::string join();

private:
    int pid_ = -1;
    int rfd_ = -1;
};

std::string sockaddr_str(const sockaddr_storage& ss);

// Polls until pred() holds (counters of a close move when the peer's last
// segment arrives, a moment after close() returned); false after 3 s.
bool eventually(const std::function<bool()>& pred);

// A pipe for a parent and a child to wait for each other.
struct Pipe {
    int r = -1, w = -1;
    Pipe();
    ~Pipe();
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    void put(char c = '.') const;
    bool get(int ms = 10000) const;  // false after ms without a byte
};

// A network namespace of the test's own, with loopback up.
class TestNetns {
public:
    TestNetns();
    ~TestNetns();
    const std::string& name() const { return name_; }
    bool run(const std::string& cmd) const;  // `ip netns exec NAME cmd`
    // Moves the calling process into it (after it joined its cgroup: `ip
    // netns exec` would hide the cgroup tree, setns does not).
    bool enter() const;

private:
    std::string name_;
};

// A service config with loopback backends on the given ports.
hl::Service service(const std::string& name, const std::string& vip, uint16_t port,
                    const std::vector<uint16_t>& backend_ports, hl::Algorithm algo = hl::Algorithm::RoundRobin,
                    const std::string& backend_addr = "127.0.0.1");

// The fixture most kernel tests start from: a datapath and one client
// cgroup, attached to namespace "default" by config().
struct AttachedDatapathTest : ::testing::Test {
    void SetUp() override {
        HL_REQUIRE_BPF();
        dp = std::make_unique<TestDatapath>();
        cg = std::make_unique<TestCgroup>("hl-client");
    }
    hl::Config config(std::vector<hl::Service> services) const;
    // The service of that name as the maps hold it (a test failure if none).
    hl::ServiceView view(const std::string& name) const;

    std::unique_ptr<TestDatapath> dp;
    std::unique_ptr<TestCgroup> cg;
};

// Samples in a histogram (every bucket's count).
uint64_t hist_count(const hl_hist& h);

}  // namespace hlt
