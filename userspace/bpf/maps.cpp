#include "bpf/maps.h"

namespace hl {

namespace {
template <class M>
Status open_one(M& m, const std::string& dir, const char* name) {
    auto fd = MapBase::open_pinned(dir + "/" + name);
    if (!fd) return fd.error();
    m = M(std::move(fd.value()), name);
    return ok_status();
}
}  // namespace

Result<MapSet> MapSet::open_pinned(const std::string& pin_dir) {
    MapSet s;
    Status st = ok_status();
    auto step = [&](Status r) {
        if (st.ok() && !r.ok()) st = r;
    };
    step(open_one(s.services, pin_dir, map_names::services));
    step(open_one(s.slots, pin_dir, map_names::slots));
    step(open_one(s.backends, pin_dir, map_names::backends));
    step(open_one(s.cgroup_ns, pin_dir, map_names::cgroup_ns));
    step(open_one(s.rr, pin_dir, map_names::rr));
    step(open_one(s.service_stats, pin_dir, map_names::service_stats));
    step(open_one(s.backend_stats, pin_dir, map_names::backend_stats));
    step(open_one(s.affinity, pin_dir, map_names::affinity));
    step(open_one(s.revnat, pin_dir, map_names::revnat));
    step(open_one(s.service_meta, pin_dir, map_names::service_meta));
    step(open_one(s.ns_meta, pin_dir, map_names::ns_meta));
    step(open_one(s.service_lc, pin_dir, map_names::service_lc));
    step(open_one(s.service_gauge, pin_dir, map_names::service_gauge));
    step(open_one(s.service_hist, pin_dir, map_names::service_hist));
    step(open_one(s.backend_live, pin_dir, map_names::backend_live));
    step(open_one(s.backend_lc, pin_dir, map_names::backend_lc));
    step(open_one(s.endpoints, pin_dir, map_names::endpoints));
    step(open_one(s.events, pin_dir, map_names::events));
    step(open_one(s.trace, pin_dir, map_names::trace));
    step(open_one(s.trace_ctl, pin_dir, map_names::trace_ctl));
    // Readers need it not: a datapath before issue 12 has none.
    (void)open_one(s.peers, pin_dir, map_names::peers);
    if (!st) {
        return Error{st.error().message + " (is hoplessd running, or was it ever started with this --pin-dir?)",
                     st.error().err};
    }
    return s;
}

}  // namespace hl
