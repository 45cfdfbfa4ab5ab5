// One /metrics scrape, written as Prometheus text straight from the maps:
// no object per series, no copy of a map. The scrape first indexes the
// services and backends the kernel holds (id, labels, address: about 12
// bytes and the label text per service, 28 per backend), then writes one
// metric family after the other, reading each family's values by ranges of
// ids, summed over CPUs, and writing each line as it reads it.
//
// It runs in steps (fill()), each a bounded amount of work, so the
// daemon's event loop serves the control API, DNS and health probes between
// the chunks of a long scrape. A map that changes between steps is read as
// it is at each step: a service added meanwhile may miss some families of
// this scrape; a removed one's values are what its id holds at that moment.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bpf/map.h"
#include "health/tracker.h"
#include "metrics/daemon_counters.h"
#include "metrics/source.h"

namespace hl {

struct ScrapeInputs {
    const CounterSource* datapath = nullptr;  // null: no datapath families
    const health::Tracker* health = nullptr;  // null: no health families
    const DaemonCounters* daemon = nullptr;   // null: no daemon families
};

class Scrape {
public:
    explicit Scrape(ScrapeInputs in) : in_(in) {}

    // Appends the next part of the text to `out`, stopping once it holds
    // `want` bytes or after a few batches read (so a step that writes
    // little, as over idle services, still ends soon). False once the text
    // is whole (this call may have appended its last part).
    bool fill(std::string& out, size_t want);

    // The services and backends indexed (after the index steps).
    size_t services() const { return svcs_.size(); }
    size_t backends() const { return bes_.size(); }

private:
    struct Svc {
        uint32_t id = 0;
        uint32_t label_at = 0;   // `namespace="..",service=".."` in labels_
        uint16_t label_len = 0;
        uint8_t tcp = 0;
        uint8_t bits = 0;        // kLifecycle, kInbound
    };
    struct Be {
        uint32_t id = 0;
        uint32_t svc = 0;        // index into svcs_
        uint8_t addr[16] = {};
        uint16_t port = 0;       // network byte order
        uint8_t state = 0;
        uint8_t bits = 0;        // kLifecycle
    };
    static constexpr uint8_t kLifecycle = 1, kInbound = 2, kNamed = 4;

    // One unit of work: false when the phase is over (phase_ moved on).
    void step(std::string& out);
    void index_services();
    void index_names();
    void index_backends();
    void presence_services();
    void presence_backends();
    void service_family(std::string& out, int fam);
    void backend_family(std::string& out, int fam);
    void daemon_families(std::string& out);
    void health_family(std::string& out, int fam);
    void next_phase();
    Svc* find_service(uint32_t id);
    std::string_view labels(const Svc& s) const { return {labels_.data() + s.label_at, s.label_len}; }
    void backend_labels(const Be& b);

    ScrapeInputs in_;
    int phase_ = 0;
    size_t pos_ = 0;  // where the phase is: an index into svcs_ or bes_
    MapCursor cursor_;
    std::vector<Svc> svcs_;  // by id
    std::vector<Be> bes_;    // by id
    std::string labels_;
    std::string scratch_;    // a backend's labels, built per line
    std::optional<health::Name> health_next_;  // the health walk resumes after this service
    bool header_ = false;    // the current family's HELP and TYPE are written
};

}  // namespace hl
