// hopless trace: datapath events as they happen, from the hl_trace_v1 ring
// buffer, with hoplessd's ejections and restores of backends in their order
// (the daemon writes them through a BPF program that applies the same rule,
// bpf/hopless.bpf.c hl_trace_health). The datapath writes there only while a tracer holds
// hl_tracectl_v1 (a deadline this command keeps a few seconds ahead), so
// nobody pays for tracing when nobody traces, and a tracer that is killed
// stops costing within seconds.
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <unordered_map>

#include "bpf/cgroup.h"
#include "cli.h"

namespace hl::cli {

namespace {

const char* kTraceHelp =
    "Usage: hopless trace [service SERVICE] [count N]\n"
    "       prints datapath events (and hoplessd's verdicts on backends) as they happen, one a\n"
    "       line (-j: one JSON object a line):\n"
    "         redirect     a connect (or UDP send) to a VIP went to a backend (pid, comm, cgroup)\n"
    "         no-backend   a connect was refused: the service had no usable backend\n"
    "         established  a redirected TCP connect completed (connect time)\n"
    "         failed       a redirected connect or connection failed: refused, timeout, reset, other\n"
    "         closed       a redirected TCP connection closed (bytes sent and received, RTT)\n"
    "         destroyed    hopless ended a redirected socket (its backend was removed or drained)\n"
    "         inbound      a task of an attached cgroup accepted a connection on a backend address\n"
    "         inbound-closed\n"
    "         ejected      hoplessd took a backend out of new connects: outlier_detection (for how\n"
    "                      long) or health_check\n"
    "         restored     the backend takes new connects again: its ejection is over, or its\n"
    "                      health_check passes\n"
    "       service SERVICE: only its events; count N: exit after N events. Ctrl-C stops.\n"
    "       One tracer at a time (a ring buffer has one reader).\n";

constexpr uint64_t kLeaseNs = 3'000'000'000;   // how far ahead the deadline is kept
constexpr int kRefreshMs = 1000;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns()'s clock
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

const char* event_name(uint8_t type) {
    switch (type) {
        case HL_TRACE_REDIRECT: return "redirect";
        case HL_TRACE_NO_BACKEND: return "no-backend";
        case HL_TRACE_ESTABLISHED: return "established";
        case HL_TRACE_FAILED: return "failed";
        case HL_TRACE_CLOSED: return "closed";
        case HL_TRACE_DESTROYED: return "destroyed";
        case HL_TRACE_INBOUND: return "inbound";
        case HL_TRACE_INBOUND_CLOSED: return "inbound-closed";
        case HL_TRACE_EJECTED: return "ejected";
        case HL_TRACE_RESTORED: return "restored";
    }
    return "unknown";
}

const char* reason_name(uint8_t type, uint8_t r) {
    if (type == HL_TRACE_EJECTED || type == HL_TRACE_RESTORED) {
        switch (r) {
            case HL_HEALTH_OUTLIER: return "outlier_detection";
            case HL_HEALTH_CHECK: return "health_check";
        }
        return nullptr;
    }
    switch (r) {
        case HL_REASON_REFUSED: return "refused";
        case HL_REASON_TIMEOUT: return "timeout";
        case HL_REASON_RESET: return "reset";
        case HL_REASON_OTHER: return "other";
    }
    return nullptr;
}

std::string endpoint_str(const uint8_t* addr, uint16_t port_net) {
    return IpAddress::from_bytes(addr).with_port(ntohs(port_net));
}

class Tracer {
public:
    Tracer(const Context& ctx, MapSet maps, uint32_t service_id, uint64_t count)
        : ctx_(ctx), maps_(std::move(maps)), service_id_(service_id), left_(count) {}
    ~Tracer() {
        if (rb_) ring_buffer__free(rb_);
        // Let go at once: the datapath stops writing with its next event.
        if (held_) (void)maps_.trace_ctl.update(0, hl_trace_ctl{});
    }

    Status start() {
        auto cur = maps_.trace_ctl.lookup(0);
        if (cur && cur->until_ns > monotonic_ns() && cur->pid && cur->pid != static_cast<uint32_t>(getpid()) &&
            kill(static_cast<pid_t>(cur->pid), 0) == 0)
            return Error{"another tracer (pid " + std::to_string(cur->pid) +
                             ") is reading the trace ring buffer; a ring buffer has one reader",
                         0};
        rb_ = ring_buffer__new(maps_.trace.fd(), &Tracer::on_event, this, nullptr);
        if (!rb_) return sys_error("cannot read the trace ring buffer " + std::string(map_names::trace));
        // Events left from an earlier tracer are not this one's.
        ring_buffer__consume(rb_);
        return renew();
    }

    Status renew() {
        hl_trace_ctl c{monotonic_ns() + kLeaseNs, service_id_, static_cast<uint32_t>(getpid())};
        if (auto st = maps_.trace_ctl.update(0, c); !st) return st;
        held_ = true;
        return ok_status();
    }

    // Until a signal, stdout closes, or `count` events were printed.
    Status run() {
        uint64_t renewed = monotonic_ns();
        while (!g_stop && !done_) {
            int n = ring_buffer__poll(rb_, 200);
            if (n < 0 && n != -EINTR) return Error{"reading the trace ring buffer failed", -n};
            if (monotonic_ns() - renewed >= kRefreshMs * 1'000'000ull) {
                if (auto st = renew(); !st) return st;
                renewed = monotonic_ns();
            }
            if (!std::cout) break;  // the reader went away (a closed pipe)
        }
        return ok_status();
    }

private:
    static int on_event(void* self, void* data, size_t size) {
        auto* t = static_cast<Tracer*>(self);
        if (size < sizeof(hl_trace_event) || t->done_) return 0;
        hl_trace_event e;
        std::memcpy(&e, data, sizeof e);
        t->print(e);
        if (t->left_ && --t->left_ == 0) t->done_ = true;
        return 0;
    }

    std::pair<std::string, std::string> service_name(uint32_t id) {
        auto it = names_.find(id);
        if (it != names_.end()) return it->second;
        std::pair<std::string, std::string> n{"", "service-" + std::to_string(id)};
        if (auto m = maps_.service_meta.lookup(id)) {
            n.first = std::string(m->ns, strnlen(m->ns, HL_NAME_LEN));
            n.second = std::string(m->name, strnlen(m->name, HL_NAME_LEN));
        }
        return names_[id] = n;
    }

    std::string backend_of(const hl_trace_event& e) {
        if (e.backend_port) return endpoint_str(e.backend, e.backend_port);
        if (auto b = maps_.backends.lookup(e.backend_id)) return endpoint_str(b->addr, b->port);
        return "backend-" + std::to_string(e.backend_id);
    }

    std::string cgroup_of(uint64_t id) {
        if (!id) return "";
        auto it = cgroups_.find(id);
        if (it != cgroups_.end()) return it->second;
        return cgroups_[id] = cgroup_path_of(id);
    }

    void print(const hl_trace_event& e) {
        // The event's monotonic time, as wall-clock time.
        timespec real{};
        clock_gettime(CLOCK_REALTIME, &real);
        int64_t ago = static_cast<int64_t>(monotonic_ns() - e.ts_ns);
        int64_t wall = static_cast<int64_t>(real.tv_sec) * 1'000'000'000 + real.tv_nsec - ago;
        time_t secs = static_cast<time_t>(wall / 1'000'000'000);
        tm lt{};
        localtime_r(&secs, &lt);
        char ts[64];
        size_t n = std::strftime(ts, sizeof ts, "%H:%M:%S", &lt);
        std::snprintf(ts + n, sizeof ts - n, ".%06lld", static_cast<long long>((wall % 1'000'000'000) / 1000));

        auto [ns, name] = service_name(e.service_id);
        const char* reason = reason_name(e.type, e.reason);
        const bool timed_ejection = e.type == HL_TRACE_EJECTED && e.reason == HL_HEALTH_OUTLIER;
        const bool connect_hook = e.type == HL_TRACE_REDIRECT || e.type == HL_TRACE_NO_BACKEND;
        const bool inbound = e.type == HL_TRACE_INBOUND || e.type == HL_TRACE_INBOUND_CLOSED;
        std::string comm(e.comm, strnlen(e.comm, sizeof e.comm));
        if (ctx_.opts.json) {
            json j{{"time", ts}, {"ts_ns", e.ts_ns}, {"event", event_name(e.type)}, {"namespace", ns}, {"service", name}};
            if (connect_hook) {
                j["vip"] = endpoint_str(e.addr, e.port);
                j["protocol"] = e.proto == IPPROTO_UDP ? "udp" : "tcp";
                j["pid"] = e.pid;
                j["comm"] = comm;
                j["cgroup"] = cgroup_of(e.cgroup_id);
            }
            if (inbound) j["peer"] = endpoint_str(e.addr, e.port);
            if (e.type != HL_TRACE_NO_BACKEND && !inbound) j["backend"] = backend_of(e);
            if (reason) j["reason"] = reason;
            if (e.type == HL_TRACE_ESTABLISHED) j["connect_us"] = e.connect_us;
            if (timed_ejection) j["ejection_ms"] = e.ejection_ms;
            if (e.type == HL_TRACE_CLOSED || e.type == HL_TRACE_DESTROYED || e.type == HL_TRACE_INBOUND_CLOSED ||
                (e.type == HL_TRACE_FAILED && (e.bytes_sent || e.bytes_received || e.rtt_us))) {
                j["bytes_sent"] = e.bytes_sent;
                j["bytes_received"] = e.bytes_received;
                j["rtt_us"] = e.rtt_us;
            }
            std::cout << j.dump() << "\n";
        } else {
            std::string line = std::string(ts) + "  " + event_name(e.type);
            line.resize(std::max<size_t>(line.size(), 31), ' ');
            line += " " + ns + "/" + name;
            if (connect_hook) {
                line += "  " + endpoint_str(e.addr, e.port);
                if (e.type == HL_TRACE_REDIRECT) line += " -> " + backend_of(e);
                if (e.proto == IPPROTO_UDP) line += " udp";
                line += "  pid " + std::to_string(e.pid) + " (" + comm + ")";
                if (auto cg = cgroup_of(e.cgroup_id); !cg.empty()) line += " " + cg;
            } else if (inbound) {
                line += "  from " + endpoint_str(e.addr, e.port);
            } else {
                line += "  " + backend_of(e);
            }
            if (reason) line += std::string("  ") + reason;
            if (e.type == HL_TRACE_ESTABLISHED) line += "  connect " + std::to_string(e.connect_us) + "us";
            if (timed_ejection) line += "  for " + std::to_string(e.ejection_ms) + "ms";
            if (e.type == HL_TRACE_CLOSED || e.type == HL_TRACE_DESTROYED || e.type == HL_TRACE_INBOUND_CLOSED)
                line += "  sent " + std::to_string(e.bytes_sent) + " received " + std::to_string(e.bytes_received) +
                        " rtt " + std::to_string(e.rtt_us) + "us";
            std::cout << line << "\n";
        }
        std::cout.flush();
    }

    const Context& ctx_;
    MapSet maps_;
    uint32_t service_id_;
    uint64_t left_;
    bool done_ = false, held_ = false;
    ring_buffer* rb_ = nullptr;
    std::unordered_map<uint32_t, std::pair<std::string, std::string>> names_;
    std::unordered_map<uint64_t, std::string> cgroups_;
};

}  // namespace

Result<Output> cmd_trace(Context& ctx, Words args) {
    if (!args.empty() && args[0] == "help") return Output{json{{"help", kTraceHelp}}, kTraceHelp};
    auto pairs = parse_pairs(args, {"service", "count"});
    if (!pairs) return pairs.error();
    auto maps = open_maps(ctx);
    if (!maps) return maps.error();
    uint32_t service_id = 0;
    uint64_t count = 0;
    for (const auto& [k, v] : *pairs) {
        if (k == "service") {
            Inventory inv = read_inventory(*maps, false);
            auto s = find_service(inv, v);
            if (!s) return s.error();
            service_id = (*s)->id;
        } else {
            char* end = nullptr;
            unsigned long long n = std::strtoull(v.c_str(), &end, 10);
            if (v.empty() || *end || n < 1) return Error{"count: '" + v + "' is not a positive number", 0};
            count = n;
        }
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;  // no SA_RESTART: the poll returns at once
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a closed stdout ends the loop instead
    Tracer t(ctx, std::move(maps.value()), service_id, count);
    if (auto st = t.start(); !st) return st.error();
    if (auto st = t.run(); !st) return st.error();
    Output o;
    o.streamed = true;
    return o;
}

}  // namespace hl::cli
