// The daemon's own counters that /metrics shows beside the kernel's.
// Written on the io_context; atomics, so any thread may read them.
#pragma once

#include <atomic>
#include <cstdint>

#include "cluster/etcd_counters.h"
#include "dns/query_counters.h"

namespace hl {

struct DaemonCounters {
    std::atomic<uint64_t> reloads_ok{0}, reloads_rejected{0};
    std::atomic<bool> file_up{true};  // the last load of the config file was applied
    dns::QueryCounters dns;  // the responder's replies by rcode (it counts into these)
    cluster::EtcdCounters etcd;  // the etcd source and publisher (when etcd: is configured)
};

}  // namespace hl
