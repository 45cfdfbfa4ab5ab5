// hopless top: a live per-service view of the kernel's counters, like top.
// Reads the pinned maps once a second (so it works while hoplessd is down)
// and shows rates from the difference of two reads. On a terminal it
// refreshes until q or Ctrl-C; with -j, or when stdout is not a terminal, it
// prints one sample (two reads an interval apart) and exits.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <thread>
#include <unordered_map>

#include "cli.h"
#include "metrics/histogram.h"

namespace hl::cli {

namespace {

const char* kTopHelp =
    "Usage: hopless top [sort KEY] [count N] [interval SECONDS]\n"
    "       KEY := { new | active | errors | bytes | rtt | inbound | name }   (default new)\n"
    "       a live view of every service, refreshed each interval (default 1 s): new connects/s,\n"
    "       active connections, connect errors/s, bytes/s received and sent, RTT p50/p99 of\n"
    "       the connections that closed in the interval, inbound (server side) connections/s\n"
    "       and active, healthy backends of all (those that take new connects now: not\n"
    "       quarantined by a health check or an ejection, not draining, weight above 0).\n"
    "       The N (default: what fits) services first by KEY.\n"
    "       Keys while it runs: n a e b r i s sort by new, active, errors, bytes, rtt, inbound,\n"
    "       name; q or Ctrl-C quits. With -j, or when stdout is not a terminal, it prints one\n"
    "       interval's sample and exits.\n";

enum class SortKey { New, Active, Errors, Bytes, Rtt, Inbound, Name };

std::optional<SortKey> parse_sort(const std::string& s) {
    static const std::vector<std::string> names = {"new", "active", "errors", "bytes", "rtt", "inbound", "name"};
    auto k = match_keyword(s, names);
    if (!k) return std::nullopt;
    return static_cast<SortKey>(*k);
}

const char* sort_name(SortKey k) {
    static const char* names[] = {"new", "active", "errors", "bytes", "rtt", "inbound", "name"};
    return names[static_cast<int>(k)];
}

// What one read of the maps says of a service.
struct Reading {
    std::string ns, name;
    bool tcp = true;
    uint64_t connections = 0, errors = 0, bytes_sent = 0, bytes_received = 0, inbound = 0;
    int64_t active = 0, inbound_active = 0;
    hl_hist rtt{};
    // Backends of the service, and those the datapath may pick now: state
    // active (health's verdicts reach the kernel as quarantined) and a
    // weight. While a service fails open its unhealthy backends are active.
    size_t backends = 0, healthy = 0;
};

struct Snapshot {
    std::chrono::steady_clock::time_point at;
    std::map<uint32_t, Reading> services;  // by id
};

// Reads what top shows, and only that, every interval: the services map,
// the backends map (healthy of all), and the per-service counters in batches;
// names are read once per service id (they never change under an id while
// it lives). No slot tables, no per-backend counters: at 65,536 services a
// refresh costs a few hundred milliseconds of CPU, not a second.
class SnapshotReader {
public:
    explicit SnapshotReader(const MapSet& maps) : maps_(maps) {}

    Snapshot read() {
        Snapshot s;
        s.at = std::chrono::steady_clock::now();
        std::unordered_map<uint32_t, Reading*> by_id;
        uint32_t end = 0;
        bool unknown = false;
        maps_.services.for_each([&](const hl_service_key& k, const hl_service& v) {
            Reading& r = s.services[v.id];
            r.tcp = k.proto != IPPROTO_UDP;
            auto it = names_.find(v.id);
            if (it == names_.end() || it->second.ns_id != k.ns_id) {
                unknown = true;
                pending_.emplace_back(v.id, k.ns_id);
            } else {
                r.ns = it->second.ns;
                r.name = it->second.name;
            }
            by_id[v.id] = &r;
            end = std::max(end, v.id + 1);
        });
        if (unknown) resolve_names(s);
        maps_.backends.for_each([&](uint32_t, const hl_backend& b) {
            auto it = by_id.find(b.service_id);
            if (it == by_id.end()) return;
            it->second->backends++;
            if (b.state == HL_BACKEND_ACTIVE && b.weight > 0) it->second->healthy++;
        });
        auto want = [&](uint32_t id) { return by_id.count(id) != 0; };
        maps_.service_stats.for_each(end, want, [&](uint32_t id, const hl_service_stats* v, size_t n) {
            by_id[id]->connections = sum_per_cpu(v, n).connections;
        });
        maps_.service_lc.for_each(end, want, [&](uint32_t id, const hl_service_lc* v, size_t n) {
            auto lc = sum_per_cpu(v, n);
            Reading& r = *by_id[id];
            for (auto e : lc.errors) r.errors += e;
            r.bytes_sent = lc.bytes_sent;
            r.bytes_received = lc.bytes_received;
            r.inbound = lc.inbound;
        });
        maps_.service_gauge.for_each(end, want, [&](uint32_t id, const hl_service_gauge* v, size_t n) {
            auto g = sum_per_cpu(v, n);
            by_id[id]->active = g.active;
            by_id[id]->inbound_active = g.inbound_active;
        });
        maps_.service_hist.for_each(end, want, [&](uint32_t id, const hl_service_hist* v, size_t n) {
            by_id[id]->rtt = sum_per_cpu(v, n).rtt;
        });
        return s;
    }

private:
    struct Name {
        uint32_t ns_id = 0;
        std::string ns, name;
    };
    void resolve_names(Snapshot& s) {
        std::map<uint32_t, std::string> ns_names;
        maps_.ns_meta.for_each([&](uint32_t id, const hl_ns_meta& m) {
            ns_names[id] = std::string(m.name, strnlen(m.name, HL_NAME_LEN));
        });
        std::unordered_map<uint32_t, std::string> svc_names;
        if (pending_.size() > 64)  // many: one batched walk beats a lookup each
            maps_.service_meta.for_each([&](uint32_t id, const hl_service_meta& m) {
                svc_names[id] = std::string(m.name, strnlen(m.name, HL_NAME_LEN));
            });
        for (const auto& [id, ns_id] : pending_) {
            Name n;
            n.ns_id = ns_id;
            n.ns = ns_names.count(ns_id) ? ns_names[ns_id] : std::to_string(ns_id);
            if (auto it = svc_names.find(id); it != svc_names.end()) n.name = it->second;
            else if (auto m = maps_.service_meta.lookup(id)) n.name = std::string(m->name, strnlen(m->name, HL_NAME_LEN));
            else n.name = "service-" + std::to_string(id);
            Reading& r = s.services[id];
            r.ns = n.ns;
            r.name = n.name;
            names_[id] = std::move(n);
        }
        pending_.clear();
    }

    const MapSet& maps_;
    std::unordered_map<uint32_t, Name> names_;
    std::vector<std::pair<uint32_t, uint32_t>> pending_;  // service id, namespace id
};

std::string duration_str(double us) {
    if (std::isnan(us)) return "-";
    char buf[32];
    if (us < 1000) std::snprintf(buf, sizeof buf, "%.0fus", us);
    else if (us < 1e6) std::snprintf(buf, sizeof buf, "%.1fms", us / 1000);
    else std::snprintf(buf, sizeof buf, "%.2fs", us / 1e6);
    return buf;
}

// A service over one interval.
struct Row {
    uint32_t id = 0;
    const Reading* now = nullptr;
    double new_s = 0, errors_s = 0, rx_s = 0, tx_s = 0, inbound_s = 0;
    double p50 = NAN, p99 = NAN;
};

std::vector<Row> rows_of(const Snapshot& before, const Snapshot& now) {
    double dt = std::chrono::duration<double>(now.at - before.at).count();
    if (dt <= 0) dt = 1;
    auto rate = [&](uint64_t a, uint64_t b) { return b >= a ? static_cast<double>(b - a) / dt : 0.0; };
    std::vector<Row> rows;
    rows.reserve(now.services.size());
    for (const auto& [id, r] : now.services) {
        Row row;
        row.id = id;
        row.now = &r;
        auto it = before.services.find(id);
        // A service id that now names another service (or a new one) starts
        // from its current counts.
        static const Reading zero;
        const Reading& b = it != before.services.end() && it->second.name == r.name && it->second.ns == r.ns
                               ? it->second
                               : zero;
        row.new_s = rate(b.connections, r.connections);
        row.errors_s = rate(b.errors, r.errors);
        row.rx_s = rate(b.bytes_received, r.bytes_received);
        row.tx_s = rate(b.bytes_sent, r.bytes_sent);
        row.inbound_s = rate(b.inbound, r.inbound);
        hl_hist d = hist_delta(r.rtt, b.rtt);
        row.p50 = hist_quantile_us(d, 0.50);
        row.p99 = hist_quantile_us(d, 0.99);
        rows.push_back(row);
    }
    return rows;
}

void sort_rows(std::vector<Row>& rows, SortKey key) {
    auto name = [](const Row& r) { return std::tie(r.now->ns, r.now->name); };
    auto metric = [key](const Row& r) -> double {
        switch (key) {
            case SortKey::New: return r.new_s;
            case SortKey::Active: return static_cast<double>(r.now->active);
            case SortKey::Errors: return r.errors_s;
            case SortKey::Bytes: return r.rx_s + r.tx_s;
            case SortKey::Rtt: return std::isnan(r.p99) ? -1 : r.p99;
            case SortKey::Inbound: return r.inbound_s + static_cast<double>(r.now->inbound_active);
            case SortKey::Name: return 0;
        }
        return 0;
    };
    std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
        if (key != SortKey::Name) {
            double x = metric(a), y = metric(b);
            if (x != y) return x > y;
        }
        return name(a) < name(b);
    });
}

std::string tcp_only(bool tcp, const std::string& v) { return tcp ? v : "-"; }

std::string table_text(const std::vector<Row>& rows, size_t limit) {
    Table t({"SERVICE", "NEW/s", "ACTIVE", "ERR/s", "RX/s", "TX/s", "RTT-P50", "RTT-P99", "IN/s", "IN-ACT",
             "HEALTHY"});
    size_t n = 0;
    for (const auto& r : rows) {
        if (n++ == limit) break;
        const auto& s = *r.now;
        t.row({s.ns + "/" + s.name, human(r.new_s), tcp_only(s.tcp, std::to_string(s.active)),
               tcp_only(s.tcp, human(r.errors_s)), tcp_only(s.tcp, human(r.rx_s) + "B"),
               tcp_only(s.tcp, human(r.tx_s) + "B"), tcp_only(s.tcp, duration_str(r.p50)),
               tcp_only(s.tcp, duration_str(r.p99)), tcp_only(s.tcp, human(r.inbound_s)),
               tcp_only(s.tcp, std::to_string(s.inbound_active)),
               std::to_string(s.healthy) + "/" + std::to_string(s.backends)});
    }
    return t.str();
}

json rows_json(const std::vector<Row>& rows, size_t limit, double interval) {
    json out = json::array();
    size_t n = 0;
    for (const auto& r : rows) {
        if (n++ == limit) break;
        const auto& s = *r.now;
        json j{{"namespace", s.ns},
               {"service", s.name},
               {"protocol", s.tcp ? "tcp" : "udp"},
               {"interval", interval},
               {"new_per_s", r.new_s},
               {"backends", s.backends},
               {"healthy_backends", s.healthy}};
        if (s.tcp) {
            j["active"] = s.active;
            j["errors_per_s"] = r.errors_s;
            j["bytes_received_per_s"] = r.rx_s;
            j["bytes_sent_per_s"] = r.tx_s;
            j["rtt_p50_us"] = std::isnan(r.p50) ? json(nullptr) : json(r.p50);
            j["rtt_p99_us"] = std::isnan(r.p99) ? json(nullptr) : json(r.p99);
            j["inbound_per_s"] = r.inbound_s;
            j["inbound_active"] = s.inbound_active;
        }
        out.push_back(std::move(j));
    }
    return out;
}

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// The terminal in cbreak mode without echo for the life of the view; put
// back as it was on the way out (also after Ctrl-C, which arrives as a key).
class RawTerminal {
public:
    RawTerminal() {
        if (tcgetattr(STDIN_FILENO, &saved_) != 0) return;
        termios raw = saved_;
        raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ISIG);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        ok_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
        std::fputs("\x1b[?1049h\x1b[?25l", stdout);  // the alternate screen, no cursor
        std::fflush(stdout);
    }
    ~RawTerminal() {
        std::fputs("\x1b[?25h\x1b[?1049l", stdout);
        std::fflush(stdout);
        if (ok_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }

private:
    termios saved_{};
    bool ok_ = false;
};

std::pair<size_t, size_t> terminal_size() {
    winsize w{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_row > 0) return {w.ws_row, w.ws_col};
    return {24, 120};
}

std::string clock_now() {
    time_t t = time(nullptr);
    tm lt{};
    localtime_r(&t, &lt);
    char buf[16];
    std::strftime(buf, sizeof buf, "%H:%M:%S", &lt);
    return buf;
}

std::string header(const std::vector<Row>& rows, SortKey key, double interval) {
    double new_s = 0, err_s = 0;
    int64_t active = 0;
    for (const auto& r : rows) {
        new_s += r.new_s;
        err_s += r.errors_s;
        active += r.now->active;
    }
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "hopless top - %s  services %zu  new/s %s  active %lld  errors/s %s  every %.1fs, sort: %s  "
                  "(n a e b r i s sort, q quits)\n",
                  clock_now().c_str(), rows.size(), human(new_s).c_str(), static_cast<long long>(active),
                  human(err_s).c_str(), interval, sort_name(key));
    return buf;
}

}  // namespace

Result<Output> cmd_top(Context& ctx, Words args) {
    if (!args.empty() && args[0] == "help") return Output{json{{"help", kTopHelp}}, kTopHelp};
    auto pairs = parse_pairs(args, {"sort", "count", "interval"});
    if (!pairs) return pairs.error();
    SortKey key = SortKey::New;
    size_t limit = 0;
    double interval = 1.0;
    for (const auto& [k, v] : *pairs) {
        if (k == "sort") {
            auto s = parse_sort(v);
            if (!s) return Error{"sort: '" + v + "' is not one of new, active, errors, bytes, rtt, inbound, name", 0};
            key = *s;
        } else if (k == "count") {
            char* end = nullptr;
            long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || n < 1 || n > 1000000) return Error{"count: '" + v + "' is not 1-1000000", 0};
            limit = static_cast<size_t>(n);
        } else {
            char* end = nullptr;
            double s = std::strtod(v.c_str(), &end);
            if (v.empty() || *end || !(s >= 0.1 && s <= 3600)) return Error{"interval: '" + v + "' is not 0.1-3600 seconds", 0};
            interval = s;
        }
    }
    auto maps = open_maps(ctx);
    if (!maps) return maps.error();
    SnapshotReader reader(*maps);
    Result<Snapshot> first = reader.read();
    auto wait = std::chrono::milliseconds(static_cast<long>(interval * 1000));

    const bool live = !ctx.opts.json && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
    if (!live) {
        // One sample: two reads an interval apart.
        std::this_thread::sleep_for(wait);
        Result<Snapshot> second = reader.read();
        auto rows = rows_of(*first, *second);
        sort_rows(rows, key);
        size_t n = limit ? limit : rows.size();
        return Output{rows_json(rows, n, interval), rows.empty() ? "no services\n" : table_text(rows, n)};
    }

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    RawTerminal term;
    Snapshot before = std::move(first.value());
    auto next = before.at + wait;
    Snapshot now = before;
    std::vector<Row> rows = rows_of(before, now);  // the first screen at once, with no rates yet
    bool quit = false;
    for (bool redraw = true; !g_stop && !quit; redraw = false) {
        if (!redraw) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
            pollfd p{STDIN_FILENO, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(std::max<long>(0, left.count()))) == 1) {
                char c = 0;
                if (read(STDIN_FILENO, &c, 1) != 1) continue;
                if (c == 'q' || c == 'Q' || c == 3 /* Ctrl-C */ || c == 4 /* Ctrl-D */) {
                    quit = true;
                    continue;
                }
                static const std::string keys = "naebris";
                auto pos = keys.find(c);
                if (pos == std::string::npos) continue;
                key = static_cast<SortKey>(pos);
            } else {
                before = std::move(now);
                now = reader.read();
                rows = rows_of(before, now);
                next = now.at + wait;
            }
        }
        sort_rows(rows, key);
        auto [height, width] = terminal_size();
        size_t fit = height > 3 ? height - 3 : 1;
        std::string screen = header(rows, key, interval) + "\n" +
                             (rows.empty() ? std::string("no services\n") : table_text(rows, limit ? std::min(limit, fit) : fit));
        // Lines wider than the terminal are cut, not wrapped.
        std::string out = "\x1b[H\x1b[2J";
        size_t col = 0;
        for (char ch : screen) {
            if (ch == '\n') {
                out += "\r\n";
                col = 0;
            } else if (col++ < width) {
                out += ch;
            }
        }
        std::fwrite(out.data(), 1, out.size(), stdout);
        std::fflush(stdout);
    }
    Output o;
    o.streamed = true;
    return o;
}

}  // namespace hl::cli
