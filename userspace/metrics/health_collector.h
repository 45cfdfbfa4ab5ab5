// Health's metrics (health/monitor.h's Counters, copied under its lock at
// scrape time): outlier ejections per backend, fail-open per service. Only
// services with a health_check or an outlier_detection have series.
#pragma once

#include <prometheus/collectable.h>

#include <memory>
#include <vector>

#include "health/monitor.h"

namespace hl {

class HealthCollector : public prometheus::Collectable {
public:
    explicit HealthCollector(std::shared_ptr<const health::Counters> counters) : counters_(std::move(counters)) {}
    std::vector<prometheus::MetricFamily> Collect() const override;

private:
    std::shared_ptr<const health::Counters> counters_;
};

}  // namespace hl
