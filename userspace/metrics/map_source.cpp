// CounterSource over the datapath's maps: batched syscalls only (nothing
// is mapped into the daemon, see SharedArray in bpf/map.h).
#include "datapath/inventory.h"
#include "metrics/source.h"

namespace hl {

namespace {

constexpr uint32_t kStep = 1024;

class MapCounters : public CounterSource {
public:
    explicit MapCounters(MapSet m) : m_(std::move(m)) {}

    void services(MapCursor& c, const Fn<const hl_service_key&, const hl_service&>& f) const override {
        m_.services.for_each_step(c, kStep, f);
    }
    void service_names(MapCursor& c, const Fn<uint32_t, const hl_service_meta&>& f) const override {
        m_.service_meta.for_each_step(c, kStep, f);
    }
    void backends(MapCursor& c, const Fn<uint32_t, const hl_backend&>& f) const override {
        m_.backends.for_each_step(c, kStep, f);
    }
    void service_stats(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_service_stats&>& f) const override {
        m_.service_stats.for_range(a, b, [&](uint32_t id, const hl_service_stats* v, size_t n) { f(id, sum_per_cpu(v, n)); });
    }
    void service_lc(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_service_lc&>& f) const override {
        m_.service_lc.for_range(a, b, [&](uint32_t id, const hl_service_lc* v, size_t n) { f(id, sum_per_cpu(v, n)); });
    }
    void service_gauge(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_service_gauge&>& f) const override {
        m_.service_gauge.for_range(a, b,
                                   [&](uint32_t id, const hl_service_gauge* v, size_t n) { f(id, sum_per_cpu(v, n)); });
    }
    void service_hist(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_service_hist&>& f) const override {
        m_.service_hist.for_range(a, b, [&](uint32_t id, const hl_service_hist* v, size_t n) { f(id, sum_per_cpu(v, n)); });
    }
    void backend_connections(uint32_t a, uint32_t b, const Fn<uint32_t, uint64_t>& f) const override {
        m_.backend_stats.for_range(a, b, [&](uint32_t id, const hl_backend_stats* v, size_t n) {
            f(id, sum_per_cpu(v, n).connections);
        });
    }
    void backend_live(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_backend_live&>& f) const override {
        m_.backend_live.for_range(a, b, f);
    }
    void backend_lc(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_backend_lc&>& f) const override {
        m_.backend_lc.for_range(a, b, f);
    }

private:
    MapSet m_;
};

}  // namespace

std::unique_ptr<CounterSource> counters_from_maps(MapSet maps) { return std::make_unique<MapCounters>(std::move(maps)); }

}  // namespace hl
