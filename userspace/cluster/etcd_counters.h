// What the etcd source and publisher count and report, for /metrics and the
// API. Written on the io thread only; atomics, so any thread may read them.
#pragma once

#include <atomic>
#include <cstdint>

namespace hl::cluster {

struct EtcdCounters {
    std::atomic<bool> configured{false};
    // Listed and watching: what this host holds is what etcd holds (as of
    // the last event). 0 while etcd is away; the last state stays in force.
    std::atomic<bool> up{false};
    // Wall clock (ms since the epoch) since when etcd has been away; 0 while up.
    std::atomic<int64_t> away_since_ms{0};
    std::atomic<uint64_t> watch_restarts{0};  // the watch re-established after a break (resumed or relisted)
    std::atomic<uint64_t> relists{0};         // full lists (the first, and after a compaction)
    std::atomic<uint64_t> lease_grants{0};
    std::atomic<uint64_t> lease_renewals{0};
    std::atomic<uint64_t> lease_lost{0};      // etcd said the lease was gone: granted anew, published again
};

}  // namespace hl::cluster
