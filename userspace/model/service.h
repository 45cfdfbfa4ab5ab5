// Plain values that describe what the host should do. Built by discovery
// sources, validated whole by validate(), never mutated after that.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/small_string.h"
#include "model/address.h"

namespace hl {

enum class Protocol : uint8_t { Tcp = 6, Udp = 17 };
// The values match HL_ALGO_* of the ABI (the reconciler writes them as they are).
enum class Algorithm : uint8_t { Random = 0, RoundRobin = 1, Weighted = 2, LeastConnections = 3 };
enum class BackendState : uint8_t { Active = 0, Draining = 1, Quarantined = 2 };
// prefer: local (with etcd): this host's backends take new connects while any
// is usable; the others only as a fail-over.
enum class Prefer : uint8_t { Any = 0, Local = 1 };
enum class HealthProtocol : uint8_t { Tcp = 0, Http = 1 };

const char* to_string(Protocol p);
const char* to_string(Algorithm a);
const char* to_string(BackendState s);
const char* to_string(Prefer p);
const char* to_string(HealthProtocol p);
std::optional<Protocol> parse_protocol(std::string_view s);
std::optional<Algorithm> parse_algorithm(std::string_view s);
std::optional<BackendState> parse_backend_state(std::string_view s);
std::optional<Prefer> parse_prefer(std::string_view s);
std::optional<HealthProtocol> parse_health_protocol(std::string_view s);

// An optional value kept on the heap: options most services leave out cost
// one pointer each, not their size, in every Service (65,536 of them).
// Copies deeply and compares by value, as std::optional would.
template <class T>
class Boxed {
public:
    Boxed() = default;
    Boxed(T v) : p_(std::make_unique<T>(std::move(v))) {}  // NOLINT: implicit, as optional's
    Boxed(const Boxed& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
    Boxed(Boxed&&) noexcept = default;
    Boxed& operator=(const Boxed& o) {
        if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
        return *this;
    }
    Boxed& operator=(Boxed&&) noexcept = default;
    explicit operator bool() const { return p_ != nullptr; }
    const T& operator*() const { return *p_; }
    const T* operator->() const { return p_.get(); }
    T* get() { return p_.get(); }
    const T* get() const { return p_.get(); }
    void reset() { p_.reset(); }
    bool operator==(const Boxed& o) const { return p_ && o.p_ ? *p_ == *o.p_ : !p_ && !o.p_; }

private:
    std::unique_ptr<T> p_;
};

// health_check: active probes from the daemon (DESIGN.md "Config").
struct HealthCheck {
    HealthProtocol protocol = HealthProtocol::Tcp;
    std::string path = "/";     // http: the GET's path; 2xx/3xx is healthy
    uint32_t interval_ms = 2000;
    uint32_t timeout_ms = 1000;
    uint16_t healthy_threshold = 2;    // passes in a row that bring a backend back
    uint16_t unhealthy_threshold = 2;  // failures in a row that quarantine it
    std::string netns;  // probe from this network namespace (a name under /run/netns, or a path); empty: the daemon's
    bool operator==(const HealthCheck&) const = default;
};

// outlier_detection: connect failures the kernel sees eject a backend.
struct OutlierDetection {
    uint32_t consecutive_failures = 5;
    uint32_t base_ejection_time_ms = 30000;  // times the number of ejections, capped at 300 s
    uint8_t max_ejection_percent = 50;       // of a service's backends at once (at least one may be)
    bool operator==(const OutlierDetection&) const = default;
};

struct Backend {
    IpAddress address;
    uint16_t port = 0;
    uint16_t weight = 1;  // 0 takes no new connections
    BackendState state = BackendState::Active;
    // Another host's (its registration, seen in etcd): `prefer: local` takes
    // it only when none of this host's own is usable. Set by the registry,
    // never by a config or API document.
    bool remote = false;

    std::string endpoint() const { return address.with_port(port); }
    bool operator==(const Backend&) const = default;
};

struct Service {
    SmallString name;  // 16 bytes, not std::string's 32: see the assert below
    SmallString ns = "default";
    std::optional<IpAddress> vip;  // nullopt: allocated from vip_pool
    uint16_t port = 0;
    Protocol protocol = Protocol::Tcp;
    Algorithm algorithm = Algorithm::RoundRobin;
    uint32_t affinity_timeout_s = 0;  // 0: no session affinity
    uint32_t drain_timeout_s = 0;
    uint32_t connect_timeout_ms = 0;  // 0: the kernel's own (about two minutes)
    Prefer prefer = Prefer::Any;
    Boxed<HealthCheck> health_check;
    Boxed<OutlierDetection> outlier_detection;
    std::vector<Backend> backends;

    bool operator==(const Service&) const = default;
};
// The registry keeps one Service per file-defined service (65,536 at scale,
// where hoplessd must stay within 64 MB): at most 120 bytes keeps it in
// malloc's 128-byte chunk (it was 144, a 160-byte chunk, with std::string
// names).
static_assert(sizeof(Service) <= 120, "one Service per service at scale: keep it in a 128-byte malloc chunk");

}  // namespace hl
