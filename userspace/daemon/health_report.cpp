#include "daemon/health_report.h"

#include <arpa/inet.h>

#include <cmath>
#include <ctime>

#include "discovery/service_json.h"

namespace hl {

namespace {

using json = nlohmann::json;

// RFC 3339, UTC, milliseconds: "2025-01-31T12:00:00.250Z".
std::string rfc3339(health::WallClock::time_point t) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
    return out;
}

double tenths(double s) { return std::round(s * 10) / 10; }

}  // namespace

json service_health_json(const Reconciler& reconciler, const Reconciler::ServiceName& name,
                         const Reconciler::ServiceRec& rec, const health::ServiceHealth* h,
                         const SharedArray<hl_backend_live>* live) {
    const auto now = health::Clock::now();
    const auto wall = health::WallClock::now();
    json s{{"namespace", name.first},
           {"name", name.second},
           {"vip", rec.vip().to_string()},
           {"port", ntohs(rec.key.port)},
           {"health_check", nullptr},
           {"outlier_detection", nullptr},
           {"fail_open", h && h->fail_open},
           {"fail_opens", h ? h->fail_opens : 0}};
    if (h && (h->check || h->outlier)) {
        // The service's own keys, as the config and the API spell them.
        Service shape;
        if (h->check) shape.health_check = *h->check;
        if (h->outlier) shape.outlier_detection = *h->outlier;
        json j = service_to_json(shape);
        if (h->check) s["health_check"] = j["health_check"];
        if (h->outlier) s["outlier_detection"] = j["outlier_detection"];
    }
    json bs = json::array();
    for (const auto& br : reconciler.backends_of(rec)) {
        const health::BackendHealth* b = nullptr;
        if (h)
            if (auto it = h->backends.find({br.spec.address, br.spec.port}); it != h->backends.end()) b = &it->second;
        json j{{"backend", br.spec.endpoint()},
               {"address", br.spec.address.to_string()},
               {"port", br.spec.port},
               {"id", br.id},
               {"healthy", !b || b->healthy()},
               {"state", to_string(br.spec.state)},  // what the kernel holds: active while failing open
               {"weight", br.spec.weight},
               {"last_probe", nullptr},
               {"failures", b ? b->failures : 0},
               {"passes", b ? b->passes : 0},
               {"ejected", b && b->ejected},
               {"ejection_left", 0},
               {"ejections", b ? b->ejections : 0},
               {"connect_failures", b ? b->connect_failures : 0}};
        if (b && b->last) {
            const auto& r = b->last->result;
            j["last_probe"] = {{"time", rfc3339(b->last->at)},
                               {"age", tenths(std::chrono::duration<double>(wall - b->last->at).count())},
                               {"ok", r.ok},
                               {"result", r.detail},
                               {"took_ms", r.took.count()},
                               {"inconclusive", r.inconclusive}};
        }
        if (live) j["connect_failures"] = live->get(br.id).consecutive_failures;
        if (b && b->ejected)
            j["ejection_left"] = std::max(0.0, tenths(std::chrono::duration<double>(b->ejected_until - now).count()));
        bs.push_back(std::move(j));
    }
    s["backends"] = std::move(bs);
    return s;
}

}  // namespace hl
