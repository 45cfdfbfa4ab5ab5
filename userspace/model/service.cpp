#include "model/service.h"

namespace hl {

const char* to_string(Protocol p) { return p == Protocol::Tcp ? "tcp" : "udp"; }

const char* to_string(Algorithm a) {
    switch (a) {
        case Algorithm::Random: return "random";
        case Algorithm::RoundRobin: return "round_robin";
        case Algorithm::Weighted: return "weighted";
        case Algorithm::LeastConnections: return "least_connections";
    }
    return "?";
}

const char* to_string(BackendState s) {
    switch (s) {
        case BackendState::Active: return "active";
        case BackendState::Draining: return "draining";
        case BackendState::Quarantined: return "quarantined";
    }
    return "?";
}

const char* to_string(Prefer p) { return p == Prefer::Local ? "local" : "any"; }

const char* to_string(HealthProtocol p) { return p == HealthProtocol::Http ? "http" : "tcp"; }

std::optional<Prefer> parse_prefer(std::string_view s) {
    if (s == "any") return Prefer::Any;
    if (s == "local") return Prefer::Local;
    return std::nullopt;
}

std::optional<HealthProtocol> parse_health_protocol(std::string_view s) {
    if (s == "tcp") return HealthProtocol::Tcp;
    if (s == "http") return HealthProtocol::Http;
    return std::nullopt;
}

std::optional<Protocol> parse_protocol(std::string_view s) {
    if (s == "tcp") return Protocol::Tcp;
    if (s == "udp") return Protocol::Udp;
    return std::nullopt;
}

std::optional<Algorithm> parse_algorithm(std::string_view s) {
    if (s == "random") return Algorithm::Random;
    if (s == "round_robin") return Algorithm::RoundRobin;
    if (s == "weighted") return Algorithm::Weighted;
    if (s == "least_connections") return Algorithm::LeastConnections;
    return std::nullopt;
}

std::optional<BackendState> parse_backend_state(std::string_view s) {
    if (s == "active") return BackendState::Active;
    if (s == "draining") return BackendState::Draining;
    if (s == "quarantined") return BackendState::Quarantined;
    return std::nullopt;
}

}  // namespace hl
