#include "discovery/service_json.h"

namespace hl {

namespace {
// Whole seconds as an integer, others as a decimal: what the config reads.
nlohmann::json seconds(uint32_t ms) {
    if (ms % 1000 == 0) return ms / 1000;
    return static_cast<double>(ms) / 1000.0;
}
}  // namespace

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
    if (s.connect_timeout_ms) j["connect_timeout"] = seconds(s.connect_timeout_ms);
    if (s.prefer != Prefer::Any) j["prefer"] = to_string(s.prefer);
    if (const auto* h = s.health_check.get()) {
        nlohmann::json hj{{"protocol", to_string(h->protocol)},
                          {"interval", seconds(h->interval_ms)},
                          {"timeout", seconds(h->timeout_ms)},
                          {"healthy_threshold", h->healthy_threshold},
                          {"unhealthy_threshold", h->unhealthy_threshold}};
        if (h->protocol == HealthProtocol::Http) hj["path"] = h->path;
        if (!h->netns.empty()) hj["netns"] = h->netns;
        j["health_check"] = std::move(hj);
    }
    if (const auto* o = s.outlier_detection.get())
        j["outlier_detection"] = {{"consecutive_failures", o->consecutive_failures},
                                  {"base_ejection_time", seconds(o->base_ejection_time_ms)},
                                  {"max_ejection_percent", o->max_ejection_percent}};
    auto bs = nlohmann::json::array();
    for (const auto& b : s.backends) bs.push_back(backend_to_json(b));
    j["backends"] = std::move(bs);
    return j;
}

}  // namespace hl
