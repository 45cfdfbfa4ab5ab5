#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "bpf/cgroup.h"
#include "bpf/cleanup.h"

namespace hlt {

bool bpf_required() {
    const char* v = getenv("HOPLESS_REQUIRE_BPF");
    return v && std::string(v) == "1";
}

bool bpf_available(std::string& why) {
    if (geteuid() != 0) {
        why = "integration tests need root";
        return false;
    }
    auto mnt = hl::cgroup2_mount();
    if (!mnt) {
        why = mnt.error().what();
        return false;
    }
    if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
        why = "no kernel BTF";
        return false;
    }
    return true;
}

std::string unique(const std::string& prefix) {
    static std::atomic<int> n{0};
    return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(n++);
}

TestCgroup::TestCgroup(const std::string& name, const TestCgroup* parent) {
    auto mnt = hl::cgroup2_mount();
    if (!mnt) throw std::runtime_error(mnt.error().what());
    path_ = (parent ? parent->path() : *mnt) + "/" + unique(name);
    if (::mkdir(path_.c_str(), 0755) != 0) throw std::runtime_error("mkdir " + path_ + ": " + strerror(errno));
    id_ = *hl::cgroup_id(path_);
}

TestCgroup::~TestCgroup() {
    // Children have exited by now; a cgroup with no tasks can be removed.
    for (int i = 0; i < 50 && ::rmdir(path_.c_str()) != 0 && errno == EBUSY; ++i) usleep(20000);
}

TestDatapath::TestDatapath() : pin_dir_("/sys/fs/bpf/" + unique("hl-itest")) {
    try {
        load();
    } catch (...) {
        // The destructor does not run for a half-built object: clean here.
        stop();
        (void)hl::cleanup_pins(pin_dir_);
        throw;
    }
}

TestDatapath::~TestDatapath() {
    stop();
    (void)hl::cleanup_pins(pin_dir_);
}

void TestDatapath::load() {
    auto obj = hl::DatapathObject::load({pin_dir_, 4096, 16384});
    if (!obj) throw std::runtime_error(obj.error().what());
    obj_ = std::move(obj.value());
    progs_ = std::move(obj_->programs().value());
    links_ = std::make_unique<hl::LinkStore>(pin_dir_);
    if (auto st = links_->upgrade_all(progs_); !st) throw std::runtime_error(st.error().what());
    if (auto st = hl::pin_programs(progs_, pin_dir_); !st) throw std::runtime_error(st.error().what());
    store_ = std::make_unique<hl::KernelMapStore>(std::move(obj_->maps().value()));
    maps_ = std::move(obj_->maps().value());
    attacher_ = std::make_unique<hl::KernelCgroupAttacher>(*links_, progs_);
    rec_ = std::make_unique<hl::Reconciler>(*store_, *attacher_, hl::MapLimits{4096, 16384});
    rec_->adopt();
    auto t = hl::SocketTerminator::load(pin_dir_);
    if (!t) throw std::runtime_error(t.error().what());
    term_ = std::move(t.value());
}

uint64_t TestDatapath::terminate(const hl::ApplyReport& r, const std::vector<std::string>& cgroups) {
    std::vector<hl::Doomed> d;
    for (const auto& b : r.removed_backends) d.push_back({b.backend_id, b.service_id});
    auto n = term_->terminate(d, cgroups);
    if (!n) throw std::runtime_error(n.error().what());
    return *n;
}

void TestDatapath::stop() {
    term_.reset();
    rec_.reset();
    attacher_.reset();
    store_.reset();
    links_.reset();
    progs_.clear();
    obj_.reset();
}

void TestDatapath::restart() {
    stop();
    load();
}

hl::Result<hl::ApplyReport> TestDatapath::try_apply(const hl::Config& c) { return rec_->apply(c); }

void TestDatapath::apply(const hl::Config& c) {
    auto r = rec_->apply(c);
    ASSERT_TRUE(r.ok()) << r.error().what();
}

hl_service_stats TestDatapath::service_stats(const std::string& name) const {
    for (const auto& s : inventory().services)
        if (s.name == name) return s.stats;
    return {};
}

uint64_t TestDatapath::backend_connections(const std::string& service, uint16_t port) const {
    for (const auto& s : inventory().services)
        if (s.name == service)
            for (const auto& b : s.backends)
                if (b.spec.port == port) return b.connections;
    return 0;
}

namespace {

int make_socket(const std::string& addr, uint16_t port, int type, sockaddr_storage& ss, socklen_t& len) {
    std::memset(&ss, 0, sizeof ss);
    if (addr.find(':') != std::string::npos) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        inet_pton(AF_INET6, addr.c_str(), &s6->sin6_addr);
        len = sizeof *s6;
        return ::socket(AF_INET6, type | SOCK_CLOEXEC, 0);
    }
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    inet_pton(AF_INET, addr.c_str(), &s4->sin_addr);
    len = sizeof *s4;
    return ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
}

bool readable(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 1;
}

}  // namespace

std::string sockaddr_str(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        auto* s = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &s->sin_addr, buf, sizeof buf);
        return std::string(buf) + ":" + std::to_string(ntohs(s->sin_port));
    }
    auto* s = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &s->sin6_addr, buf, sizeof buf);
    std::string out = "[";  // appended, not `"[" + ...`: gcc 12 -O3 -Wrestrict false positive (bug 105651)
    out.append(buf).append("]:").append(std::to_string(ntohs(s->sin6_port)));
    return out;
}

TcpServer::TcpServer(const std::string& name, const std::string& addr) : name_(name) {
    sockaddr_storage ss;
    socklen_t len;
    fd_ = make_socket(addr, 0, SOCK_STREAM, ss, len);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd_, 4096) != 0)
        throw std::runtime_error("server " + name + ": " + strerror(errno));
    getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    thread_ = std::thread([this] {
        while (!stop_) {
            if (!readable(fd_, 50)) continue;
            int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            accepted_++;
            (void)!::write(c, name_.data(), name_.size());
            ::close(c);
        }
    });
}

TcpServer::~TcpServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
}

UdpServer::UdpServer(const std::string& name, const std::string& addr) : name_(name) {
    sockaddr_storage ss;
    socklen_t len;
    fd_ = make_socket(addr, 0, SOCK_DGRAM, ss, len);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0)
        throw std::runtime_error("udp server " + name + ": " + strerror(errno));
    getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    thread_ = std::thread([this] {
        char buf[512];
        while (!stop_) {
            if (!readable(fd_, 50)) continue;
            sockaddr_storage from;
            socklen_t fl = sizeof from;
            ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
            if (n < 0) continue;
            ::sendto(fd_, name_.data(), name_.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
        }
    });
}

UdpServer::~UdpServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
}

DialResult dial_tcp(const std::string& addr, uint16_t port) {
    DialResult r;
    sockaddr_storage ss;
    socklen_t len;
    int fd = make_socket(addr, port, SOCK_STREAM, ss, len);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        r.err = errno;
        ::close(fd);
        return r;
    }
    sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) == 0) r.peer = sockaddr_str(peer);
    char buf[256];
    if (readable(fd, 2000)) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) r.reply.assign(buf, static_cast<size_t>(n));
    }
    linger lg{1, 0};  // RST: no TIME_WAIT
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(fd);
    return r;
}

DialResult udp_sendto(const std::string& addr, uint16_t port) {
    DialResult r;
    sockaddr_storage ss;
    socklen_t len;
    int fd = make_socket(addr, port, SOCK_DGRAM, ss, len);
    if (::sendto(fd, "q", 1, 0, reinterpret_cast<sockaddr*>(&ss), len) != 1) {
        r.err = errno;
        ::close(fd);
        return r;
    }
    char buf[256];
    if (readable(fd, 2000)) {
        sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n > 0) {
            r.reply.assign(buf, static_cast<size_t>(n));
            r.peer = sockaddr_str(from);
        }
    } else {
        r.err = ETIMEDOUT;
    }
    ::close(fd);
    return r;
}

DialResult udp_connected(const std::string& addr, uint16_t port) {
    DialResult r;
    sockaddr_storage ss;
    socklen_t len;
    int fd = make_socket(addr, port, SOCK_DGRAM, ss, len);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        r.err = errno;
        ::close(fd);
        return r;
    }
    sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) == 0) r.peer = sockaddr_str(peer);
    (void)!::send(fd, "q", 1, 0);
    char buf[256];
    if (readable(fd, 2000)) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) r.reply.assign(buf, static_cast<size_t>(n));
    } else {
        r.err = ETIMEDOUT;
    }
    ::close(fd);
    return r;
}

Child::Child(const std::string& cgroup_path, const std::function<std::string()>& fn) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
        ::close(p[0]);
        std::string out;
        if (!cgroup_path.empty()) {
            std::ofstream procs(cgroup_path + "/cgroup.procs");
            procs << getpid() << std::flush;
            if (!procs) out = "ERROR: cannot join cgroup " + cgroup_path;
        }
        if (out.empty()) out = fn();
        size_t off = 0;
        while (off < out.size()) {
            ssize_t n = ::write(p[1], out.data() + off, out.size() - off);
            if (n <= 0) break;
            off += static_cast<size_t>(n);
        }
        _exit(0);
    }
    ::close(p[1]);
    rfd_ = p[0];
}

std::string Child::join() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(rfd_, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(rfd_);
    rfd_ = -1;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return out;
}

Child::~Child() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    if (rfd_ >= 0) ::close(rfd_);
}

std::string in_cgroup(const std::string& cgroup_path, const std::function<std::string()>& fn) {
    Child c(cgroup_path, fn);
    return c.join();
}

hl::Service service(const std::string& name, const std::string& vip, uint16_t port,
                    const std::vector<uint16_t>& backend_ports, hl::Algorithm algo, const std::string& backend_addr) {
    hl::Service s;
    s.name = name;
    s.vip = *hl::IpAddress::parse(vip);
    s.port = port;
    s.algorithm = algo;
    for (uint16_t p : backend_ports) {
        hl::Backend b;
        b.address = *hl::IpAddress::parse(backend_addr);
        b.port = p;
        s.backends.push_back(b);
    }
    return s;
}

bool eventually(const std::function<bool()>& pred) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

Pipe::Pipe() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    r = p[0];
    w = p[1];
}

Pipe::~Pipe() {
    ::close(r);
    ::close(w);
}

void Pipe::put(char c) const { (void)!::write(w, &c, 1); }

bool Pipe::get(int ms) const {
    pollfd p{r, POLLIN, 0};
    char c;
    return poll(&p, 1, ms) == 1 && ::read(r, &c, 1) == 1;
}

TestNetns::TestNetns() : name_(unique("hl-ns")) {
    if (std::system(("ip netns add " + name_ + " && ip -n " + name_ + " link set lo up").c_str()) != 0)
        throw std::runtime_error("cannot make netns " + name_);
}

TestNetns::~TestNetns() { (void)!std::system(("ip netns del " + name_ + " 2>/dev/null").c_str()); }

bool TestNetns::run(const std::string& cmd) const {
    return std::system(("ip netns exec " + name_ + " " + cmd).c_str()) == 0;
}

bool TestNetns::enter() const {
    int fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
    if (fd >= 0) ::close(fd);
    return ok;
}

hl::Config AttachedDatapathTest::config(std::vector<hl::Service> services) const {
    hl::Config c;
    c.pin_dir = dp->pin_dir();
    c.services = std::move(services);
    c.attach.push_back({cg->path(), "default"});
    return c;
}

hl::ServiceView AttachedDatapathTest::view(const std::string& name) const {
    for (auto& s : dp->inventory().services)
        if (s.name == name) return s;
    ADD_FAILURE() << "no service " << name;
    return {};
}

uint64_t hist_count(const hl_hist& h) {
    uint64_t n = 0;
    for (auto b : h.bucket) n += b;
    return n;
}

}  // namespace hlt
