// What a scrape reads: the datapath's maps (counters_from_maps), or a fake
// in the unit tests. Tables are walked a step at a time and values are read
// by ranges of ids, so the scrape can hold an event loop for one batch at a
// time and never holds a copy of a whole map.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "bpf/map.h"
#include "bpf/maps.h"
#include "hopless/abi.h"

namespace hl {

class CounterSource {
public:
    template <class... A>
    using Fn = std::function<void(A...)>;
    virtual ~CounterSource() = default;

    // One step (about a thousand entries) of a table's walk from where the
    // cursor stands; c.done at its end.
    virtual void services(MapCursor& c, const Fn<const hl_service_key&, const hl_service&>& f) const = 0;
    virtual void service_names(MapCursor& c, const Fn<uint32_t, const hl_service_meta&>& f) const = 0;
    virtual void backends(MapCursor& c, const Fn<uint32_t, const hl_backend&>& f) const = 0;

    // The values of ids in [first, end), in id order; per-CPU ones summed.
    virtual void service_stats(uint32_t first, uint32_t end, const Fn<uint32_t, const hl_service_stats&>& f) const = 0;
    virtual void service_lc(uint32_t first, uint32_t end, const Fn<uint32_t, const hl_service_lc&>& f) const = 0;
    virtual void service_gauge(uint32_t first, uint32_t end, const Fn<uint32_t, const hl_service_gauge&>& f) const = 0;
    virtual void service_hist(uint32_t first, uint32_t end, const Fn<uint32_t, const hl_service_hist&>& f) const = 0;
    virtual void backend_connections(uint32_t first, uint32_t end, const Fn<uint32_t, uint64_t>& f) const = 0;
    virtual void backend_live(uint32_t first, uint32_t end, const Fn<uint32_t, const hl_backend_live&>& f) const = 0;
    virtual void backend_lc(uint32_t first, uint32_t end, const Fn<uint32_t, const hl_backend_lc&>& f) const = 0;
};

std::unique_ptr<CounterSource> counters_from_maps(MapSet maps);

}  // namespace hl
