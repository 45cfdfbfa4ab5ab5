// The health of every backend of every service that has a health_check or
// an outlier_detection, on the daemon's io_context: active probes on a timer
// per backend, connect-failure events from the kernel, ejection ends on one
// timer. Its only output is a flag per backend, handed to the sink (the
// daemon puts it in the registry, which quarantines unhealthy backends and
// fails open when all are; DESIGN.md "Health overlays state").
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <random>

#include "common/error.h"
#include "health/tracker.h"

namespace hl::health {

class NetnsSockets;
class Probe;

// A producer's verdict that took a backend out of, or put it back into,
// the set that takes new connects (for `hopless trace`; a flag change of a
// reload or a removed producer is none).
struct BackendEvent {
    uint32_t service_id = 0, backend_id = 0;
    Endpoint endpoint;
    bool ejected = false;  // false: restored
    uint8_t why = 0;       // HL_HEALTH_OUTLIER or HL_HEALTH_CHECK
    std::chrono::milliseconds ejection{0};  // outlier ejections: for how long
};

// Where the flags go.
class Sink {
public:
    virtual ~Sink() = default;
    virtual void backend_health(const Change& change) = 0;
    // After backend_health() of the same change, when a producer made it.
    virtual void backend_event(const BackendEvent&) {}
};

// The kernel's per-backend connect-failure count (hl_belive_v1), set to 0
// when a backend is ejected so that it starts afresh when it comes back.
class FailureCounts {
public:
    virtual ~FailureCounts() = default;
    virtual Status reset(uint32_t backend_id) = 0;
};

class Monitor {
public:
    // `counts` may be null (no kernel counts: ejections still happen).
    Monitor(boost::asio::io_context& io, Sink& sink, FailureCounts* counts);
    ~Monitor();
    Monitor(const Monitor&) = delete;
    Monitor& operator=(const Monitor&) = delete;

    // After each apply of a service: its backends, ids and checks now.
    void update(const TrackedService& s);
    void remove(const Name& name);
    // The registry's fail-open verdict after an apply (counted and logged).
    void set_fail_open(const Name& name, bool fail_open, size_t backends);
    // One connect failure the kernel saw.
    void connect_failure(const hl_connect_failure& ev);

    const Tracker& tracker() const { return tracker_; }

    struct Loop;  // one backend's probes (monitor.cpp)

private:
    struct ServiceProbes {
        HealthCheck check;
        std::shared_ptr<NetnsSockets> netns;
        std::string netns_error;  // logged once, not once per probe
        std::map<Endpoint, std::shared_ptr<Loop>> loops;
    };
    void sync_probes(const Name& name, const ServiceHealth* s);
    void schedule(const std::shared_ptr<Loop>& loop, std::chrono::milliseconds after);
    void run_probe(const std::shared_ptr<Loop>& loop);
    Result<NetnsSockets*> netns_for(ServiceProbes& sp);
    void emit(const std::vector<Change>& changes);
    void emit(const Change& change);
    void announce(const Change& change, uint8_t why, std::chrono::milliseconds ejection);
    void arm_ejection_timer();

    boost::asio::io_context& io_;
    Sink& sink_;
    FailureCounts* counts_;
    Tracker tracker_;
    std::map<Name, ServiceProbes> probes_;
    std::map<std::string, std::weak_ptr<NetnsSockets>> netns_;  // shared by the services that name it
    boost::asio::steady_timer ejection_timer_;
    std::optional<Clock::time_point> armed_for_;
    std::minstd_rand rng_{std::random_device{}()};
    // Handlers that outlive the monitor (queued on the io_context when it
    // goes) find this expired and do nothing.
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hl::health
