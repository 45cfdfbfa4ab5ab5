#include "discovery/service_json.h"

namespace hl {

nlohmann::json backend_to_json(const Backend& b) {
    nlohmann::json j{{"address", b.address.to_string()}, {"port", b.port}, {"weight", b.weight}};
    if (b.state != BackendState::Active) j["state"] = to_string(b.state);
    return j;
}

nlohmann::json service_to_json(const Service& s) {
    nlohmann::json j{{"name", s.name},           {"namespace", s.ns},
                     {"port", s.port},           {"protocol", to_string(s.protocol)},
                     {"algorithm", to_string(s.algorithm)}};
    if (s.vip) j["vip"] = s.vip->to_string();
    if (s.affinity_timeout_s) j["affinity"] = {{"timeout", s.affinity_timeout_s}};
    if (s.drain_timeout_s) j["drain_timeout"] = s.drain_timeout_s;
    auto bs = nlohmann::json::array();
    for (const auto& b : s.backends) bs.push_back(backend_to_json(b));
    j["backends"] = std::move(bs);
    return j;
}

}  // namespace hl
