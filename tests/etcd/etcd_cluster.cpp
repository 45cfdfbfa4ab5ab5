#include "etcd_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>

namespace hlt {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A loopback port nobody holds now, and not handed out before in this run.
int free_port() {
    static std::set<int> given;
    for (int tries = 0; tries < 50; ++tries) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw std::runtime_error(std::string("socket: ") + strerror(errno));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        int port = -1;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
            port = ntohs(a.sin_port);
        }
        ::close(fd);
        if (port > 0 && given.insert(port).second) return port;
    }
    throw std::runtime_error("no free loopback port");
}

// One HTTP/1.0 request to 127.0.0.1:port; the whole answer, or "" on any
// failure (bounded by timeout).
std::string http(int port, const std::string& request, std::chrono::milliseconds timeout) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return "";
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto left_ms = [&] {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        return static_cast<int>(std::max<int64_t>(ms.count(), 0));
    };
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
        ::close(fd);
        return "";
    }
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, left_ms()) != 1) {
        ::close(fd);
        return "";
    }
    int err = 0;
    socklen_t el = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0 ||
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
        ::close(fd);
        return "";
    }
    char buf[4096];
    while (left_ms() > 0) {
        p = {fd, POLLIN, 0};
        if (::poll(&p, 1, left_ms()) != 1) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

// The value of "name":"VALUE" in a flat JSON answer ("" when absent).
std::string json_string(const std::string& body, const std::string& name) {
    auto at = body.find("\"" + name + "\":\"");
    if (at == std::string::npos) return "";
    at += name.size() + 4;
    auto end = body.find('"', at);
    return end == std::string::npos ? "" : body.substr(at, end - at);
}

}  // namespace

std::string etcd_binary() {
    const char* env = getenv("HOPLESS_ETCD");
    std::string path = env && *env ? env : "/usr/bin/etcd";
    return ::access(path.c_str(), X_OK) == 0 ? path : "";
}

bool etcd_required() {
    const char* v = getenv("HOPLESS_REQUIRE_BPF");
    return v && std::string(v) == "1";
}

EtcdCluster::EtcdCluster(size_t members) {
    static std::atomic<int> n{0};
    char tmpl[] = "/tmp/hopless-etcd-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error(std::string("mkdtemp: ") + strerror(errno));
    dir_ = tmpl;
    token_ = "hlt-" + std::to_string(getpid()) + "-" + std::to_string(n++);
    members_.resize(members);
    for (size_t i = 0; i < members; ++i) {
        members_[i].name = "m" + std::to_string(i);
        members_[i].client_port = free_port();
        members_[i].peer_port = free_port();
    }
    try {
        for (size_t i = 0; i < members; ++i) spawn(i);
        for (size_t i = 0; i < members; ++i) {
            if (!wait_healthy(i)) {
                throw std::runtime_error("etcd member " + members_[i].name + " did not become healthy: " +
                                         log_tail(i));
            }
        }
    } catch (...) {
        for (size_t i = 0; i < members_.size(); ++i) kill(i);
        std::error_code ec;
        fs::remove_all(dir_, ec);
        throw;
    }
}

EtcdCluster::~EtcdCluster() {
    for (size_t i = 0; i < members_.size(); ++i) kill(i);
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

std::string EtcdCluster::endpoint(size_t i) const {
    return "http://127.0.0.1:" + std::to_string(members_[i].client_port);
}

std::vector<std::string> EtcdCluster::endpoints() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < members_.size(); ++i) out.push_back(endpoint(i));
    return out;
}

std::string EtcdCluster::initial_cluster() const {
    std::string s;
    for (const auto& m : members_) {
        if (!s.empty()) s += ",";
        s += m.name + "=http://127.0.0.1:" + std::to_string(m.peer_port);
    }
    return s;
}

void EtcdCluster::spawn(size_t i) {
    Member& m = members_[i];
    std::string client = "http://127.0.0.1:" + std::to_string(m.client_port);
    std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
    std::vector<std::string> args = {
        etcd_binary(),
        "--name", m.name,
        "--data-dir", dir_ + "/" + m.name + ".etcd",
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", initial_cluster(),
        "--initial-cluster-token", token_,
        "--initial-cluster-state", "new",  // ignored once the data dir exists (a restart)
        // Fast elections and heartbeats on loopback: tests wait less for a leader.
        "--heartbeat-interval", "50",
        "--election-timeout", "500",
        "--logger", "zap",
        "--log-outputs", "stderr",
        "--log-level", "warn",
    };
    std::string log = dir_ + "/" + m.name + ".log";
    pid_t parent = getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + strerror(errno));
    if (pid == 0) {
        // The child: dies with the test process; output to its log.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        int nul = ::open("/dev/null", O_RDONLY);
        if (nul >= 0) ::dup2(nul, 0);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        _exit(127);
    }
    m.pid = pid;
    m.paused = false;
}

void EtcdCluster::reap(size_t i) {
    Member& m = members_[i];
    if (m.pid <= 0) return;
    int st = 0;
    while (::waitpid(m.pid, &st, 0) < 0 && errno == EINTR) {
    }
    m.pid = 0;
    m.paused = false;
}

void EtcdCluster::kill(size_t i) {
    Member& m = members_[i];
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);  // works on a stopped process too
    reap(i);
}

void EtcdCluster::stop(size_t i) {
    Member& m = members_[i];
    if (m.pid <= 0) return;
    if (m.paused) ::kill(m.pid, SIGCONT);
    ::kill(m.pid, SIGTERM);
    for (int t = 0; t < 100; ++t) {
        int st = 0;
        pid_t r = ::waitpid(m.pid, &st, WNOHANG);
        if (r == m.pid || (r < 0 && errno == ECHILD)) {
            m.pid = 0;
            m.paused = false;
            return;
        }
        std::this_thread::sleep_for(50ms);
    }
    kill(i);
}

void EtcdCluster::pause(size_t i) {
    Member& m = members_[i];
    if (m.pid <= 0 || m.paused) return;
    ::kill(m.pid, SIGSTOP);
    m.paused = true;
}

void EtcdCluster::resume(size_t i) {
    Member& m = members_[i];
    if (m.pid <= 0 || !m.paused) return;
    ::kill(m.pid, SIGCONT);
    m.paused = false;
}

void EtcdCluster::start(size_t i) {
    if (members_[i].pid > 0) return;
    spawn(i);
}

bool EtcdCluster::wait_healthy(size_t i, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (members_[i].pid <= 0) return false;
        int st = 0;
        if (::waitpid(members_[i].pid, &st, WNOHANG) == members_[i].pid) {
            members_[i].pid = 0;  // it died: say so at once
            return false;
        }
        std::string req = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (http(members_[i].client_port, req, 500ms).find("\"health\":\"true\"") != std::string::npos) {
            return true;
        }
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

int EtcdCluster::leader() const {
    // etcd's JSON gateway: Maintenance.Status names the leader and the member answering.
    const std::string body = "{}";
    std::string req = "POST /v3/maintenance/status HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    for (size_t i = 0; i < members_.size(); ++i) {
        if (members_[i].pid <= 0 || members_[i].paused) continue;
        std::string answer = http(members_[i].client_port, req, 1s);
        std::string leader = json_string(answer, "leader");
        if (!leader.empty() && leader == json_string(answer, "member_id")) return static_cast<int>(i);
    }
    return -1;
}

std::string EtcdCluster::log_tail(size_t i, size_t bytes) const {
    std::ifstream f(dir_ + "/" + members_[i].name + ".log", std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace hlt
