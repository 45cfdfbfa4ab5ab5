// Real etcd for tests: one member or several, from Debian's etcd-server,
// on free loopback ports with a temporary data dir. Members can be stopped,
// killed, paused (SIGSTOP) and started again from their data dir. The
// destructor kills every member and removes the data dir; members also die
// with the test process (PR_SET_PDEATHSIG), so a crashed test leaves none.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace hlt {

// The etcd binary: $HOPLESS_ETCD, else /usr/bin/etcd; "" when absent.
std::string etcd_binary();
// Under HOPLESS_REQUIRE_BPF=1 (CI) a missing etcd fails the test instead of skipping it.
bool etcd_required();

#define HL_REQUIRE_ETCD()                                                                      \
    do {                                                                                       \
        if (::hlt::etcd_binary().empty()) {                                                    \
            if (::hlt::etcd_required()) FAIL() << "etcd is required (HOPLESS_REQUIRE_BPF=1) "  \
                                                  "but not installed (etcd-server)";           \
            GTEST_SKIP() << "etcd is not installed (tools/install-deps.sh: etcd-server)";      \
        }                                                                                      \
    } while (0)

class EtcdCluster {
public:
    // Starts `members` members and waits until every one reports healthy.
    // Throws std::runtime_error (with the logs' tails) when they do not.
    explicit EtcdCluster(size_t members = 1);
    ~EtcdCluster();
    EtcdCluster(const EtcdCluster&) = delete;
    EtcdCluster& operator=(const EtcdCluster&) = delete;

    size_t size() const { return members_.size(); }
    std::string endpoint(size_t i) const;      // "http://127.0.0.1:PORT"
    std::vector<std::string> endpoints() const; // every member's
    const std::string& dir() const { return dir_; }

    void stop(size_t i);    // SIGTERM, then SIGKILL after 5 s; waits
    void kill(size_t i);    // SIGKILL; waits
    void pause(size_t i);   // SIGSTOP
    void resume(size_t i);  // SIGCONT
    void start(size_t i);   // again, from its data dir (after stop or kill)
    bool running(size_t i) const { return members_[i].pid > 0; }
    // Polls the member's /health until it answers {"health":"true"}.
    bool wait_healthy(size_t i, std::chrono::milliseconds timeout = std::chrono::seconds(15));
    std::string log_tail(size_t i, size_t bytes = 1500) const;
    // The member that leads now (as the running members see it), or -1.
    int leader() const;

private:
    struct Member {
        std::string name;
        int client_port = 0;
        int peer_port = 0;
        pid_t pid = 0;
        bool paused = false;
    };
    void spawn(size_t i);
    void reap(size_t i);
    std::string initial_cluster() const;

    std::string dir_;
    std::string token_;
    std::vector<Member> members_;
};

}  // namespace hlt
