// Backend health as one flag per backend with two producers (Envoy's model):
// active checks (probe results: unhealthy_threshold failures in a row make a
// backend unhealthy, healthy_threshold passes bring it back) and passive
// outlier detection (the kernel's connect-failure events: consecutive_failures
// eject a backend for base_ejection_time x its number of ejections, capped
// at 300 s, never more than max_ejection_percent of a service's backends at
// once). healthy = passing its checks and not ejected.
//
// Pure state: no I/O, no clock of its own (every call is given `now`), so
// the rules are unit-tested to the millisecond. The monitor (monitor.h)
// feeds it and turns its changes into registry updates.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hopless/abi.h"
#include "model/service.h"

namespace hl::health {

using Clock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;
using Name = std::pair<std::string, std::string>;  // namespace, name
using Endpoint = std::pair<IpAddress, uint16_t>;

// An ejection never lasts longer than this, however often a backend was ejected.
inline constexpr std::chrono::seconds kMaxEjection{300};

struct ProbeResult {
    bool ok = false;
    std::string detail;  // "HTTP 200", "connection refused", "timed out after 1000 ms"
    std::chrono::milliseconds took{0};
    // The prober could not probe (its network namespace is gone): says
    // nothing about the backend, so it moves no count.
    bool inconclusive = false;
};

struct LastProbe {
    WallClock::time_point at;
    ProbeResult result;
};

struct BackendHealth {
    uint32_t id = 0;              // the kernel's backend id (events name it)
    bool checks_ok = true;        // the active producer's verdict; true without checks
    uint32_t failures = 0;        // active probes failed in a row
    uint32_t passes = 0;          // active probes passed in a row
    std::optional<LastProbe> last;
    bool ejected = false;         // the passive producer's verdict
    Clock::time_point ejected_until{};
    uint32_t ejections = 0;       // times ejected while a backend of this service
    uint32_t connect_failures = 0;  // the kernel's count in the last event seen

    bool healthy() const { return checks_ok && !ejected; }
};

struct ServiceHealth {
    uint32_t id = 0;  // the kernel's service id
    std::optional<HealthCheck> check;
    std::optional<OutlierDetection> outlier;
    bool fail_open = false;    // every usable backend is unhealthy: the registry routes to all
    uint64_t fail_opens = 0;   // times it started failing open
    std::map<Endpoint, BackendHealth> backends;
};

// One service as the reconciler just applied it.
struct TrackedService {
    Name name;
    uint32_t id = 0;
    const HealthCheck* check = nullptr;
    const OutlierDetection* outlier = nullptr;
    struct Backend {
        Endpoint endpoint;
        uint32_t id = 0;
        // The kernel held it quarantined when this daemon started: the last
        // daemon judged it unhealthy. New to the tracker, it starts
        // unhealthy (failing its checks, or ejected for base_ejection_time),
        // so a restart does not hand a dead backend connects until judged.
        bool was_quarantined = false;
    };
    std::vector<Backend> backends;
};

// A backend's flag changed: the registry is to be told.
struct Change {
    Name service;
    Endpoint endpoint;
    bool healthy = true;
};

struct Ejection {
    Change change;
    bool flag_changed = true;  // false: its checks held it unhealthy already
    uint32_t backend_id = 0;
    std::chrono::milliseconds duration{0};
    uint32_t nth = 0;  // the backend's ejections so far, this one included
    size_t ejected_now = 0, backends = 0;  // of its service, this one included
};

class Tracker {
public:
    // Only services with a health_check or outlier_detection are kept;
    // update() with neither forgets the service. Backends the service no
    // longer has are forgotten; one that was unhealthy is reported healthy
    // (so the registry drops its flag). Kept backends keep their state, so
    // a reload or a redefinition changes nothing for them; a producer that
    // was removed from the config stops counting (a backend it held
    // unhealthy is healthy again).
    std::vector<Change> update(const TrackedService& s, Clock::time_point now);
    std::vector<Change> remove(const Name& name);

    // One active probe's result.
    std::optional<Change> probe_result(const Name& name, const Endpoint& ep, const ProbeResult& r, WallClock::time_point at);

    // One connect failure the kernel saw (hl_events_v1). An ejection, when
    // this one makes the backend's count reach consecutive_failures and the
    // service may eject one more.
    std::optional<Ejection> connect_failure(const hl_connect_failure& ev, Clock::time_point now);
    // Ejections whose time is up; their backends are healthy again unless
    // their checks fail.
    std::vector<Change> end_ejections(Clock::time_point now);
    std::optional<Clock::time_point> next_ejection_end() const;

    // The registry's fail-open verdict after an apply. Returns +1 when the
    // service starts failing open, -1 when it stops, 0 otherwise.
    int set_fail_open(const Name& name, bool fail_open);

    const ServiceHealth* find(const Name& name) const;
    const std::map<Name, ServiceHealth>& services() const { return services_; }
    // Unhealthy backends of a service, to assert their flags again.
    std::vector<Change> unhealthy(const Name& name) const;

private:
    struct Where {
        ServiceHealth* service;
        const Name* name;
        const Endpoint* endpoint;
        BackendHealth* backend;
    };
    void index(const Name& name, ServiceHealth& s);
    void unindex(const ServiceHealth& s);
    void forget(const Name& name, const Endpoint& ep, const BackendHealth& b, std::vector<Change>& changes);

    std::map<Name, ServiceHealth> services_;
    std::unordered_map<uint32_t, Where> by_backend_id_;  // for events
    std::set<std::pair<Clock::time_point, uint32_t>> ejection_ends_;  // {until, backend id}
};

// base x nth, capped at kMaxEjection.
std::chrono::milliseconds ejection_time(const OutlierDetection& o, uint32_t nth);
// Whether a service of `backends` with `ejected` ejected may eject one more.
bool may_eject(const OutlierDetection& o, size_t ejected, size_t backends);

}  // namespace hl::health
