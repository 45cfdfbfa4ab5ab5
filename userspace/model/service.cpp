#include "model/service.h"

namespace hl {

const char* to_string(Protocol p) { return p == Protocol::Tcp ? "tcp" : "udp"; }

const char* to_string(Algorithm a) {
    switch (a) {
        case Algorithm::Random: return "random";
        case Algorithm::RoundRobin: return "round_robin";
        case Algorithm::Weighted: return "weighted";
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

std::optional<Protocol> parse_protocol(std::string_view s) {
    if (s == "tcp") return Protocol::Tcp;
    if (s == "udp") return Protocol::Udp;
    return std::nullopt;
}

std::optional<Algorithm> parse_algorithm(std::string_view s) {
    if (s == "random") return Algorithm::Random;
    if (s == "round_robin") return Algorithm::RoundRobin;
    if (s == "weighted") return Algorithm::Weighted;
    return std::nullopt;
}

std::optional<BackendState> parse_backend_state(std::string_view s) {
    if (s == "active") return BackendState::Active;
    if (s == "draining") return BackendState::Draining;
    if (s == "quarantined") return BackendState::Quarantined;
    return std::nullopt;
}

}  // namespace hl
