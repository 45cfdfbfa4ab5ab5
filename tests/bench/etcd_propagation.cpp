// Registration on one host -> another host's kernel map, through etcd
// (issue 10): for each of COUNT endpoints, the time from the registration
// call to host B's control API until host C's pinned backends map holds the
// endpoint, then from the deregistration call until it is gone there.
// C's map is polled every 50 us (it holds the service's one or two
// backends, so a poll is a few microseconds). Prints one JSON line.
//
//   etcd_propagation B_SOCKET C_PIN_DIR NAMESPACE/SERVICE ADDRESS PORT_BASE COUNT [SECONDS]
#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bpf/maps.h"
#include "control/client.h"
#include "model/address.h"

namespace {

using Clock = std::chrono::steady_clock;

bool in_map(const hl::MapSet& maps, const hl::IpAddress& a, uint16_t port) {
    bool found = false;
    maps.backends.for_each([&](uint32_t, const hl_backend& b) {
        found |= hl::IpAddress::from_bytes(b.addr) == a && ntohs(b.port) == port;
    });
    return found;
}

// Polls until in_map() says `want`; the milliseconds since t0, or -1 after the deadline.
double wait_for(const hl::MapSet& maps, const hl::IpAddress& a, uint16_t port, bool want, Clock::time_point t0) {
    const auto deadline = t0 + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
        if (in_map(maps, a, port) == want) return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    return -1;
}

double pct(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(static_cast<double>(v.size()) * p))];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 7) {
        std::fprintf(stderr, "usage: %s B_SOCKET C_PIN_DIR NS/SERVICE ADDRESS PORT_BASE COUNT [SECONDS]\n", argv[0]);
        return 2;
    }
    const std::string sock = argv[1], pin = argv[2], svc = argv[3];
    auto addr = hl::IpAddress::parse(argv[4]);
    const int port_base = std::stoi(argv[5]), count = std::stoi(argv[6]);
    const double limit_s = argc > 7 ? std::stod(argv[7]) : 300;
    if (!addr || svc.find('/') == std::string::npos) {
        std::fprintf(stderr, "bad ADDRESS or NS/SERVICE\n");
        return 2;
    }
    auto maps = hl::MapSet::open_pinned(pin);
    if (!maps) {
        std::fprintf(stderr, "%s\n", maps.error().what().c_str());
        return 1;
    }
    hl::control::Client b(sock, std::chrono::seconds(5));
    const std::string base = "/v1/services/" + svc + "/endpoints/";
    std::vector<double> reg, dereg, api;
    int lost = 0;
    const auto start = Clock::now();
    for (int i = 0; i < count; ++i) {
        if (std::chrono::duration<double>(Clock::now() - start).count() > limit_s) break;
        const uint16_t port = static_cast<uint16_t>(port_base + i % 1000);
        const std::string target = base + "bench-" + std::to_string(i);
        auto t0 = Clock::now();
        auto r = b.call("PUT", target, nlohmann::json{{"address", addr->to_string()}, {"port", port}});
        if (!r || !r->ok()) {
            std::fprintf(stderr, "register %d: %s\n", i, r ? hl::control::error_text(*r).c_str() : r.error().what().c_str());
            return 1;
        }
        api.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        double ms = wait_for(*maps, *addr, port, true, t0);
        if (ms < 0) ++lost;
        else reg.push_back(ms);
        auto t1 = Clock::now();
        auto d = b.call("DELETE", target);
        if (!d || !d->ok()) {
            std::fprintf(stderr, "deregister %d failed\n", i);
            return 1;
        }
        ms = wait_for(*maps, *addr, port, false, t1);
        if (ms < 0) ++lost;
        else dereg.push_back(ms);
    }
    std::printf(
        "{\"registrations\": %zu, \"lost\": %d, \"register_p50_ms\": %.2f, \"register_p99_ms\": %.2f, "
        "\"register_max_ms\": %.2f, \"deregister_p50_ms\": %.2f, \"deregister_p99_ms\": %.2f, "
        "\"api_p50_ms\": %.2f, \"api_p99_ms\": %.2f, \"seconds\": %.1f}\n",
        reg.size(), lost, pct(reg, 0.5), pct(reg, 0.99), pct(reg, 1.0), pct(dereg, 0.5), pct(dereg, 0.99),
        pct(api, 0.5), pct(api, 0.99), std::chrono::duration<double>(Clock::now() - start).count());
    return lost ? 1 : 0;
}
