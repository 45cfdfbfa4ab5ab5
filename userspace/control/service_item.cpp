#include "control/service_item.h"

namespace hl::control {

nlohmann::json service_item_json(const Service& s) {
    nlohmann::json j{{"name", s.name},
                     {"namespace", s.ns},
                     {"port", s.port},
                     {"protocol", to_string(s.protocol)},
                     {"algorithm", to_string(s.algorithm)}};
    if (s.vip) j["vip"] = s.vip->to_string();
    if (s.affinity_timeout_s) j["affinity"] = {{"timeout", s.affinity_timeout_s}};
    if (s.drain_timeout_s) j["drain_timeout"] = s.drain_timeout_s;
    nlohmann::json bs = nlohmann::json::array();
    for (const auto& b : s.backends) {
        nlohmann::json bj{{"address", b.address.to_string()}, {"port", b.port}, {"weight", b.weight}};
        if (b.state != BackendState::Active) bj["state"] = to_string(b.state);
        bs.push_back(std::move(bj));
    }
    j["backends"] = std::move(bs);
    return j;
}

}  // namespace hl::control
