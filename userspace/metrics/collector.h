// Prometheus metrics read from the maps at scrape time: nothing polls, and a
// scrape always shows the kernel's counters as they are.
#pragma once

#include "cluster/etcd_counters.h"
#include "dns/query_counters.h"

#include <prometheus/collectable.h>

#include <atomic>
#include <vector>

#include "bpf/maps.h"

namespace hl {

struct DaemonCounters {
    std::atomic<uint64_t> reloads_ok{0}, reloads_rejected{0};
    std::atomic<bool> file_up{true};  // the last load of the config file was applied
    dns::QueryCounters dns;  // the responder's replies by rcode (it counts into these)
    cluster::EtcdCounters etcd;  // the etcd source and publisher (when etcd: is configured)
};

class DatapathCollector : public prometheus::Collectable {
public:
    DatapathCollector(MapSet maps, const DaemonCounters& counters) : maps_(std::move(maps)), counters_(counters) {}
    std::vector<prometheus::MetricFamily> Collect() const override;

private:
    MapSet maps_;
    const DaemonCounters& counters_;
};

}  // namespace hl
