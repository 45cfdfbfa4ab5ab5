#include "metrics/health_collector.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

namespace hl {

namespace {
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const char* name, const char* help, MetricType type) {
    MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    return f;
}

void add(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
    ClientMetric m;
    m.label = std::move(labels);
    if (f.type == MetricType::Counter) m.counter.value = value;
    else m.gauge.value = value;
    f.metric.push_back(std::move(m));
}
}  // namespace

std::vector<MetricFamily> HealthCollector::Collect() const {
    auto ejections = family("hopless_backend_ejections_total",
                            "Outlier ejections of this backend (consecutive connect failures seen by the kernel)",
                            MetricType::Counter);
    auto panic = family("hopless_service_panic",
                        "1 while every usable backend of the service is unhealthy and hopless routes to all of them "
                        "(fail open)",
                        MetricType::Gauge);
    auto panics = family("hopless_service_panic_total",
                         "Times every usable backend of the service became unhealthy and hopless failed open",
                         MetricType::Counter);
    for (const auto& [name, s] : counters_->snapshot()) {
        std::vector<ClientMetric::Label> l{{"namespace", name.first}, {"service", name.second}};
        for (const auto& [backend, n] : s.ejections)
            add(ejections, {l[0], l[1], {"backend", backend}}, static_cast<double>(n));
        add(panic, l, s.fail_open ? 1.0 : 0.0);
        add(panics, std::move(l), static_cast<double>(s.fail_opens));
    }
    std::vector<MetricFamily> out;
    out.reserve(3);
    for (auto* f : {&ejections, &panic, &panics}) out.push_back(std::move(*f));
    return out;
}

}  // namespace hl
