#include "metrics/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <prometheus/exposer.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/unique_fd.h"

namespace hl {

namespace {

// One connect to the listener, closed at once: enough to end CivetWeb's poll.
void poke(const std::string& host, int port) {
    std::string h = host;
    if (h.size() >= 2 && h.front() == '[') h = h.substr(1, h.size() - 2);
    if (h == "0.0.0.0" || h.empty()) h = "127.0.0.1";
    if (h == "::") h = "::1";
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(port));
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(port));
        len = sizeof *v6;
    } else {
        return;  // a host name: let the stop take its time
    }
    UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.valid()) (void)::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len);
}

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen,
                                                            std::shared_ptr<prometheus::Collectable> what) {
    std::unique_ptr<MetricsServer> s(new MetricsServer());
    auto colon = listen.rfind(':');
    s->host_ = colon == std::string::npos ? listen : listen.substr(0, colon);
    try {
        s->exposer_ = std::make_unique<prometheus::Exposer>(listen);
    } catch (const std::exception& e) {
        return Error{"cannot listen on " + listen + ": " + e.what(), 0};
    }
    s->what_ = std::move(what);
    s->exposer_->RegisterCollectable(s->what_);
    auto ports = s->exposer_->GetListeningPorts();
    s->port_ = ports.empty() ? 0 : ports.front();
    return s;
}

MetricsServer::~MetricsServer() {
    if (!exposer_) return;
    // Poke the listener until the Exposer has stopped (bounded: 2.5 s, the
    // poll quantum and some), so its stop does not wait a full quantum.
    std::atomic<bool> stopped{false};
    std::thread waker([&] {
        for (int i = 0; i < 250 && !stopped.load(); ++i) {
            poke(host_, port_);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    exposer_.reset();
    stopped = true;
    waker.join();
}

std::string MetricsServer::url() const { return "http://" + host_ + ":" + std::to_string(port_) + "/metrics"; }

}  // namespace hl
