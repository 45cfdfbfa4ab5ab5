// Plain values that describe what the host should do. Built by discovery
// sources, validated whole by validate(), never mutated after that.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/address.h"

namespace hl {

enum class Protocol : uint8_t { Tcp = 6, Udp = 17 };
enum class Algorithm : uint8_t { Random = 0, RoundRobin = 1, Weighted = 2 };
enum class BackendState : uint8_t { Active = 0, Draining = 1, Quarantined = 2 };

const char* to_string(Protocol p);
const char* to_string(Algorithm a);
const char* to_string(BackendState s);
std::optional<Protocol> parse_protocol(std::string_view s);
std::optional<Algorithm> parse_algorithm(std::string_view s);
std::optional<BackendState> parse_backend_state(std::string_view s);

struct Backend {
    IpAddress address;
    uint16_t port = 0;
    uint16_t weight = 1;  // 0 takes no new connections
    BackendState state = BackendState::Active;

    std::string endpoint() const { return address.with_port(port); }
    bool operator==(const Backend&) const = default;
};

struct Service {
    std::string name;
    std::string ns = "default";
    std::optional<IpAddress> vip;  // nullopt: allocated from vip_pool
    uint16_t port = 0;
    Protocol protocol = Protocol::Tcp;
    Algorithm algorithm = Algorithm::RoundRobin;
    uint32_t affinity_timeout_s = 0;  // 0: no session affinity
    uint32_t drain_timeout_s = 0;
    std::vector<Backend> backends;

    bool operator==(const Service&) const = default;
};

}  // namespace hl
