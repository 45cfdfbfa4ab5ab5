// connect_latency: the connect() latency distribution a client task sees, and
// (with --http) the time to a whole HTTP/1.0 answer on a fresh connection.
//
//   connect_latency [-n COUNT] [-t SECONDS] [-w WARMUP] [--fin] [--http] ADDR PORT
//       connect + close COUNT times (bounded by COUNT and by SECONDS), print
//       one line of key=value: count, failed, p50/p90/p99/min/max/mean in ns.
//       The close is an RST (SO_LINGER 0) unless --fin, so the loop leaves no
//       TIME_WAIT behind to disturb later rounds.
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
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
};

// One fresh connection. Returns 0 or the errno of connect(); fills the times.
int one(const Options& o, ns_t& connect_ns, ns_t& total_ns) {
    int fd = socket(o.target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    if (!o.fin) {
        linger l{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    timeval tv{2, 0};  // a lost SYN or a dead backend must not hang the loop
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ns_t t0 = now_ns();
    int rc = connect(fd, reinterpret_cast<const sockaddr*>(&o.target.ss), o.target.len);
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

int run_distribution(const Options& o) {
    ns_t deadline = now_ns() + static_cast<ns_t>(o.seconds * 1e9);
    ns_t c = 0, t = 0;
    for (long i = 0; i < o.warmup && now_ns() < deadline; ++i) one(o, c, t);
    std::vector<ns_t> conn, total;
    conn.reserve(o.count);
    total.reserve(o.count);
    long failed = 0, attempts = 0;
    int last_err = 0;
    for (; attempts < o.count && now_ns() < deadline; ++attempts) {
        int err = one(o, c, t);
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
        int err = one(o, c, t);
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
        o.seconds <= 0 || o.seconds > 3600 || (!o.until.empty() && o.until != "ok" && o.until != "refused")) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    return o.until.empty() ? run_distribution(o) : run_until(o);
}
