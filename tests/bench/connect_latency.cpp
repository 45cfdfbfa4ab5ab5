// connect_latency: the connect() latency distribution a client task sees, and
// (with --http) the time to a whole HTTP/1.0 answer on a fresh connection.
//
//   connect_latency [-n COUNT] [-t SECONDS] [-w WARMUP] [--fin] [--http] ADDR PORT
//       connect + close COUNT times (bounded by COUNT and by SECONDS), print
//       one line of key=value: count, failed, p50/p90/p99/min/max/mean in ns.
//       The close is an RST (SO_LINGER 0) unless --fin, so the loop leaves no
//       TIME_WAIT behind to disturb later rounds.
//
//   connect_latency [-n COUNT] [-t SECONDS] [-w WARMUP] [--fin] [--http]
//                   --pair ADDR2 PORT2 [--block K] ADDR PORT
//       The same for two destinations at once, taken in turn K connects at a
//       time (A B, then B A, ...), so that both see the same machine: a VM
//       that flips between slow modes for seconds moves a separate run's p50
//       by microseconds, but moves both halves of a pair alike. Prints the
//       line above for ADDR, then b_-prefixed keys for ADDR2, each side's CPU
//       per connection (cpu_ns, b_cpu_ns: the thread's CPU clock, read at
//       block boundaries only) and pair_p50_diff_ns, the median over blocks
//       of (a B block's p50 - the A block's beside it). --pair-cgroup-fd FD:
//       the B side runs in a child process that first writes its pid to FD
//       (a cgroup.procs the caller opened), to compare two cgroups; the two
//       processes take turns, never run at once.
//
//   connect_latency --until ok|refused [-t SECONDS] [--interval-us US]
//                   [--rename SRC DST] [--signal PID:SIG] ADDR PORT
//       Config-change latency: take t0, optionally rename SRC over DST and/or
//       send a signal, then connect in a loop until the outcome becomes the one
//       asked for (a connect that succeeds, or one refused). Prints the time
//       from t0 to the first such connect in ns. Exit 1 on timeout.
//
// Traffic goes only where ADDR points; the benchmark scripts point it at
// loopback, VIPs in 127.255.0.0/16, or addresses inside their own netns.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

using ns_t = long long;

ns_t now_ns(clockid_t clk = CLOCK_MONOTONIC) {
    timespec ts{};
    clock_gettime(clk, &ts);
    return static_cast<ns_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

struct Target {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
};

bool parse_target(const char* addr, const char* port, Target& t) {
    int p = std::atoi(port);
    if (p <= 0 || p > 65535) return false;
    auto* s4 = reinterpret_cast<sockaddr_in*>(&t.ss);
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&t.ss);
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(static_cast<uint16_t>(p));
        t.len = sizeof *s4;
        t.family = AF_INET;
        return true;
    }
    std::string a = addr;
    if (a.size() > 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
    if (inet_pton(AF_INET6, a.c_str(), &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(static_cast<uint16_t>(p));
        t.len = sizeof *s6;
        t.family = AF_INET6;
        return true;
    }
    return false;
}

struct Options {
    long count = 2000;
    long warmup = 100;
    double seconds = 10.0;
    bool fin = false;
    bool http = false;
    std::string until;  // "", "ok", "refused"
    long interval_us = 200;
    std::string rename_src, rename_dst;
    pid_t signal_pid = 0;
    int signal_no = 0;
    Target target;
    bool paired = false;
    Target pair;        // --pair: the second destination
    long block = 10;    // --block: connects per turn
    int pair_cg_fd = -1; // --pair-cgroup-fd: the second side's cgroup.procs
};

// One fresh connection. Returns 0 or the errno of connect(); fills the times.
int one(const Options& o, const Target& target, ns_t& connect_ns, ns_t& total_ns) {
    int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    if (!o.fin) {
        linger l{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    timeval tv{2, 0};  // a lost SYN or a dead backend must not hang the loop
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ns_t t0 = now_ns();
    int rc = connect(fd, reinterpret_cast<const sockaddr*>(&target.ss), target.len);
    int err = rc == 0 ? 0 : errno;
    ns_t t1 = now_ns();
    connect_ns = t1 - t0;
    total_ns = connect_ns;
    if (err == 0 && o.http) {
        static const char req[] = "GET / HTTP/1.0\r\nHost: bench\r\n\r\n";
        if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof req - 1)) {
            err = errno ? errno : EIO;
        } else {
            char buf[4096];
            ssize_t n, got = 0;
            while ((n = recv(fd, buf, sizeof buf, 0)) > 0) got += n;
            if (n < 0 || got == 0) err = n < 0 ? errno : EPROTO;
        }
        total_ns = now_ns() - t0;
    }
    close(fd);
    return err;
}

ns_t pct(std::vector<ns_t>& v, double p) {
    if (v.empty()) return 0;
    size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

void print_dist(const char* prefix, std::vector<ns_t>& v) {
    std::sort(v.begin(), v.end());
    long double sum = 0;
    for (ns_t x : v) sum += x;
    std::printf(" %sp50_ns=%lld %sp90_ns=%lld %sp99_ns=%lld %smin_ns=%lld %smax_ns=%lld %smean_ns=%lld", prefix,
                pct(v, 50), prefix, pct(v, 90), prefix, pct(v, 99), prefix, v.empty() ? 0 : v.front(), prefix,
                v.empty() ? 0 : v.back(), prefix, v.empty() ? 0 : static_cast<ns_t>(sum / v.size()));
}

// When a run started now must end (-t).
ns_t deadline_of(const Options& o) { return now_ns() + static_cast<ns_t>(o.seconds * 1e9); }

// n connects whose times are not kept, before the measured ones; like every
// loop here, bounded in time too.
void warm_up(const Options& o, const Target& target, long n, ns_t deadline) {
    ns_t c = 0, t = 0;
    for (long i = 0; i < n && now_ns() < deadline; ++i) one(o, target, c, t);
}

int run_distribution(const Options& o) {
    ns_t deadline = deadline_of(o);
    ns_t c = 0, t = 0;
    warm_up(o, o.target, o.warmup, deadline);
    std::vector<ns_t> conn, total;
    conn.reserve(o.count);
    total.reserve(o.count);
    long failed = 0, attempts = 0;
    int last_err = 0;
    for (; attempts < o.count && now_ns() < deadline; ++attempts) {
        int err = one(o, o.target, c, t);
        if (err) {
            ++failed;
            last_err = err;
            continue;
        }
        conn.push_back(c);
        total.push_back(t);
    }
    std::printf("count=%zu attempts=%ld failed=%ld", conn.size(), attempts, failed);
    print_dist("", conn);
    if (o.http) print_dist("http_", total);
    if (failed) std::printf(" last_error=%s", std::strerror(last_err));
    std::printf("\n");
    return failed == attempts ? 1 : 0;
}

// What a side counts besides its samples (sent whole from a child side).
struct Tally {
    long attempts = 0, failed = 0;
    int last_err = 0;
    ns_t cpu_ns = 0; // the thread's CPU time in this side's blocks
    size_t samples = 0; // conn.size(), set when a child sends it
};

// One side of a paired run.
struct Side {
    const Target* target = nullptr;
    std::vector<ns_t> conn, total;
    Tally tally;
};

// K connects to one side; returns the block's p50.
ns_t run_block(const Options& o, Side& s, long k) {
    std::vector<ns_t> b;
    b.reserve(static_cast<size_t>(k));
    ns_t c = 0, t = 0;
    ns_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (long i = 0; i < k; ++i) {
        ++s.tally.attempts;
        int err = one(o, *s.target, c, t);
        if (err) {
            ++s.tally.failed;
            s.tally.last_err = err;
            continue;
        }
        s.conn.push_back(c);
        s.total.push_back(t);
        b.push_back(c);
    }
    s.tally.cpu_ns += now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    if (b.empty()) return 0;
    std::sort(b.begin(), b.end());
    return pct(b, 50);
}

bool write_all(int fd, const void* p, size_t n) {
    auto* c = static_cast<const char*>(p);
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        c += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

bool read_all(int fd, void* p, size_t n) {
    auto* c = static_cast<char*>(p);
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        c += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

// The second side of a pair in a process of its own, in another cgroup (a
// socket belongs to the cgroup of the task that made it): the two take turns
// through two pipes, so only one of them runs at a time.
class RemoteSide {
public:
    // Forks the child; it joins the cgroup whose cgroup.procs is open as
    // cg_fd (opened before the client entered its netns, whose /sys hides
    // the cgroup tree) and waits for its turns.
    bool start(const Options& o, int cg_fd) {
        int go[2], done[2];
        if (pipe2(go, O_CLOEXEC) || pipe2(done, O_CLOEXEC)) return false;
        pid_ = fork();
        if (pid_ < 0) return false;
        if (pid_ == 0) {
            close(go[1]);
            close(done[0]);
            std::string me = std::to_string(getpid());
            if (write(cg_fd, me.data(), me.size()) != static_cast<ssize_t>(me.size())) {
                std::fprintf(stderr, "connect_latency: joining the --pair-cgroup-fd cgroup: %s\n", std::strerror(errno));
                _exit(3);
            }
            _exit(serve(o, go[0], done[1]));
        }
        close(go[0]);
        close(done[1]);
        go_ = go[1];
        done_ = done[0];
        return true;
    }

    // k > 0: a block of k connects, returns its p50; k < 0: -k warmup connects.
    bool turn(long k, ns_t& p50) { return write_all(go_, &k, sizeof k) && read_all(done_, &p50, sizeof p50); }

    // Ends the child's turns and takes its tally and samples.
    bool finish(Side& s) {
        long k = 0;
        bool ok = write_all(go_, &k, sizeof k) && read_all(done_, &s.tally, sizeof s.tally) && s.tally.samples <= 100000000;
        if (ok) {
            size_t n = s.tally.samples;
            s.conn.resize(n);
            s.total.resize(n);
            ok = read_all(done_, s.conn.data(), n * sizeof(ns_t)) && read_all(done_, s.total.data(), n * sizeof(ns_t));
        }
        close(go_);
        close(done_);
        int st = 0;
        waitpid(pid_, &st, 0);
        return ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }

private:
    static int serve(const Options& o, int go, int done) {
        Side s;
        s.target = &o.pair;
        ns_t deadline = deadline_of(o);
        long k;
        while (read_all(go, &k, sizeof k) && k != 0) {
            ns_t p50 = 0;
            if (k < 0)
                warm_up(o, o.pair, -k, deadline);
            else
                p50 = run_block(o, s, k);
            if (!write_all(done, &p50, sizeof p50)) return 4;
        }
        s.tally.samples = s.conn.size();
        size_t bytes = s.tally.samples * sizeof(ns_t);
        bool ok = write_all(done, &s.tally, sizeof s.tally) && write_all(done, s.conn.data(), bytes) &&
                  write_all(done, s.total.data(), bytes);
        return ok ? 0 : 4;
    }

    pid_t pid_ = -1;
    int go_ = -1, done_ = -1;
};

int run_paired(const Options& o) {
    ns_t deadline = deadline_of(o);
    Side a, b;
    a.target = &o.target;
    b.target = &o.pair;
    RemoteSide remote;
    const bool two = o.pair_cg_fd >= 0;
    if (two && !remote.start(o, o.pair_cg_fd)) {
        std::fprintf(stderr, "connect_latency: cannot start the second side: %s\n", std::strerror(errno));
        return 2;
    }
    bool broken = false;
    auto block_b = [&](long k) -> ns_t {
        if (!two) return run_block(o, b, k);
        ns_t p50 = 0;
        if (!remote.turn(k, p50)) broken = true;
        return p50;
    };
    warm_up(o, o.target, o.warmup, deadline);
    if (two) {
        ns_t ignored;
        broken = o.warmup > 0 && !remote.turn(-o.warmup, ignored); // a turn of 0 would end the child
    } else {
        warm_up(o, o.pair, o.warmup, deadline);
    }
    a.conn.reserve(o.count);
    std::vector<ns_t> diffs;
    // Each turn is a pair of blocks, A then B or B then A (alternating, so
    // neither side always runs second in a pair).
    for (long turn = 0; !broken && a.tally.attempts < o.count && now_ns() < deadline; ++turn) {
        long k = std::min(o.block, o.count - a.tally.attempts);
        ns_t pa, pb;
        if (turn % 2 == 0) {
            pa = run_block(o, a, k);
            pb = block_b(k);
        } else {
            pb = block_b(k);
            pa = run_block(o, a, k);
        }
        if (pa && pb) diffs.push_back(pb - pa);
    }
    if (two && !remote.finish(b)) broken = true;
    if (broken) {
        std::fprintf(stderr, "connect_latency: the second side (another process) failed\n");
        return 2;
    }
    auto side = [&](const char* prefix, Side& s) {
        std::printf("%s%scount=%zu %sattempts=%ld %sfailed=%ld", prefix[0] ? " " : "", prefix, s.conn.size(), prefix,
                    s.tally.attempts, prefix, s.tally.failed);
        print_dist(prefix, s.conn);
        if (o.http) print_dist((std::string(prefix) + "http_").c_str(), s.total);
        std::printf(" %scpu_ns=%lld", prefix, s.tally.attempts ? s.tally.cpu_ns / static_cast<ns_t>(s.tally.attempts) : 0);
        if (s.tally.failed) std::printf(" %slast_error=%s", prefix, std::strerror(s.tally.last_err));
    };
    side("", a);
    side("b_", b);
    std::sort(diffs.begin(), diffs.end());
    std::printf(" pairs=%zu pair_p50_diff_ns=%lld\n", diffs.size(), diffs.empty() ? 0 : pct(diffs, 50));
    return a.tally.failed == a.tally.attempts || b.tally.failed == b.tally.attempts ? 1 : 0;
}

int run_until(const Options& o) {
    const bool want_ok = o.until == "ok";
    ns_t t0 = now_ns();
    ns_t deadline = t0 + static_cast<ns_t>(o.seconds * 1e9);
    if (!o.rename_src.empty() && rename(o.rename_src.c_str(), o.rename_dst.c_str()) != 0) {
        std::fprintf(stderr, "connect_latency: rename %s -> %s: %s\n", o.rename_src.c_str(), o.rename_dst.c_str(),
                     std::strerror(errno));
        return 2;
    }
    if (o.signal_pid > 0 && kill(o.signal_pid, o.signal_no) != 0) {
        std::fprintf(stderr, "connect_latency: kill %d: %s\n", o.signal_pid, std::strerror(errno));
        return 2;
    }
    long attempts = 0;
    ns_t c = 0, t = 0;
    while (now_ns() < deadline) {
        ++attempts;
        int err = one(o, o.target, c, t);
        bool matched = want_ok ? err == 0 : err == ECONNREFUSED;
        if (matched) {
            std::printf("change_ns=%lld attempts=%ld\n", now_ns() - t0, attempts);
            return 0;
        }
        if (o.interval_us > 0) usleep(static_cast<useconds_t>(o.interval_us));
    }
    std::printf("change_ns=-1 attempts=%ld timeout=1\n", attempts);
    return 1;
}

void usage() {
    std::fputs(
        "usage: connect_latency [-n COUNT] [-t SECONDS] [-w WARMUP] [--fin] [--http] ADDR PORT\n"
        "       connect_latency [-n COUNT] [-t SECONDS] [-w WARMUP] [--fin] [--http]\n"
        "                       --pair ADDR2 PORT2 [--block K] [--pair-cgroup-fd FD] ADDR PORT\n"
        "       connect_latency --until ok|refused [-t SECONDS] [--interval-us US]\n"
        "                       [--rename SRC DST] [--signal PID:SIG] ADDR PORT\n",
        stderr);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    std::vector<const char*> pos;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto need = [&](int n) {
            if (i + n >= argc) {
                usage();
                std::exit(2);
            }
        };
        if (a == "-n") need(1), o.count = std::atol(argv[++i]);
        else if (a == "-w") need(1), o.warmup = std::atol(argv[++i]);
        else if (a == "-t") need(1), o.seconds = std::atof(argv[++i]);
        else if (a == "--fin") o.fin = true;
        else if (a == "--http") o.http = true;
        else if (a == "--until") need(1), o.until = argv[++i];
        else if (a == "--pair") {
            need(2);
            if (!parse_target(argv[i + 1], argv[i + 2], o.pair)) {
                usage();
                return 2;
            }
            o.paired = true;
            i += 2;
        } else if (a == "--block") need(1), o.block = std::atol(argv[++i]);
        else if (a == "--pair-cgroup-fd") need(1), o.pair_cg_fd = std::atoi(argv[++i]);
        else if (a == "--interval-us") need(1), o.interval_us = std::atol(argv[++i]);
        else if (a == "--rename") need(2), o.rename_src = argv[++i], o.rename_dst = argv[++i];
        else if (a == "--signal") {
            need(1);
            std::string v = argv[++i];
            auto colon = v.find(':');
            o.signal_pid = std::atoi(v.substr(0, colon).c_str());
            o.signal_no = colon == std::string::npos ? SIGHUP : std::atoi(v.substr(colon + 1).c_str());
        } else if (a == "-h" || a == "--help") {
            usage();
            return 0;
        } else if (!a.empty() && a[0] == '-') {
            usage();
            return 2;
        } else pos.push_back(argv[i]);
    }
    if (pos.size() != 2 || !parse_target(pos[0], pos[1], o.target) || o.count <= 0 || o.count > 10000000 ||
        o.seconds <= 0 || o.seconds > 3600 || (!o.until.empty() && o.until != "ok" && o.until != "refused") ||
        o.block <= 0 || o.block > 100000 || (o.paired && !o.until.empty()) || (o.pair_cg_fd >= 0 && !o.paired)) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!o.until.empty()) return run_until(o);
    return o.paired ? run_paired(o) : run_distribution(o);
}
