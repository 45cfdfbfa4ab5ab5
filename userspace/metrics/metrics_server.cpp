#include "metrics/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <prometheus/exposer.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <chrono>
#include <thread>

#include "common/unique_fd.h"

namespace hl {

namespace {

// Where a connect reaches the listener: its own address, or loopback when it
// listens on every address. None for a host name (the stop then takes its time).
std::optional<IpAddress> wake_address(const std::string& host) {
    auto a = IpAddress::parse(host);
    if (!a) return std::nullopt;
    bool any = std::all_of(a->bytes().begin() + (a->is_v4() ? 12 : 0), a->bytes().end(), [](uint8_t b) { return b == 0; });
    if (!any) return a;
    return a->is_v4() ? IpAddress::v4(INADDR_LOOPBACK) : IpAddress::parse("::1");
}

// One connect to the listener, closed at once: enough to end CivetWeb's poll.
void poke(const IpAddress& addr, int port) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (addr.is_v4()) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        v4->sin_addr.s_addr = htonl(addr.v4_host_order());
        len = sizeof *v4;
    } else {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        std::memcpy(&v6->sin6_addr, addr.bytes().data(), 16);
        len = sizeof *v6;
    }
    UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.valid()) (void)::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen,
                                                            std::vector<std::shared_ptr<prometheus::Collectable>> what) {
    std::unique_ptr<MetricsServer> s(new MetricsServer());
    auto colon = listen.rfind(':');
    s->host_ = colon == std::string::npos ? listen : listen.substr(0, colon);
    try {
        s->exposer_ = std::make_unique<prometheus::Exposer>(listen);
    } catch (const std::exception& e) {
        return Error{"cannot listen on " + listen + ": " + e.what(), 0};
    }
    s->what_ = std::move(what);
    for (const auto& w : s->what_) s->exposer_->RegisterCollectable(w);
    auto ports = s->exposer_->GetListeningPorts();
    s->port_ = ports.empty() ? 0 : ports.front();
    s->wake_ = wake_address(s->host_);
    return s;
}

MetricsServer::~MetricsServer() {
    if (!exposer_ || !wake_) return;  // the Exposer stops as a member, in its own time
    // Poke the listener until the Exposer has stopped (bounded: 2.5 s, the
    // poll quantum and some), so its stop does not wait a full quantum.
    std::atomic<bool> stopped{false};
    std::thread waker([&] {
        for (int i = 0; i < 250 && !stopped.load(); ++i) {
            poke(*wake_, port_);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    exposer_.reset();
    stopped = true;
    waker.join();
}

std::string MetricsServer::url() const { return "http://" + host_ + ":" + std::to_string(port_) + "/metrics"; }

}  // namespace hl
