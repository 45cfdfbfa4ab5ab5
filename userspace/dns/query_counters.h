// Counts of the replies the DNS server sent, by rcode: the metric
// hopless_dns_queries_total{rcode}. Written on the io_context, read from any
// thread (the metrics endpoint's), hence atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace hl::dns {

struct QueryCounters {
    // The rcode label values, as dig and CoreDNS spell them; "other" holds
    // the rest (an upstream's YXDOMAIN, our BADVERS, ...).
    static constexpr std::array<const char*, 7> kRcodes = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                           "NOTIMP",  "REFUSED", "other"};

    std::array<std::atomic<uint64_t>, kRcodes.size()> by_rcode{};
    std::atomic<uint64_t> forwarded{0};  // queries sent on to the upstreams (their replies count by rcode)
    std::atomic<uint64_t> dropped{0};    // packets not answered: no header, or a response

    static size_t index(int rcode) { return rcode >= 0 && rcode <= 5 ? static_cast<size_t>(rcode) : kRcodes.size() - 1; }
    void count(int rcode) { by_rcode[index(rcode)].fetch_add(1, std::memory_order_relaxed); }
    uint64_t get(size_t i) const { return by_rcode[i].load(std::memory_order_relaxed); }
};

}  // namespace hl::dns
