#include "bpf/object.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>

#include "bpf/capabilities.h"
#include "bpf/cgroup.h"
#include "hopless.skel.h"

namespace hl {

void route_libbpf_log() {
    libbpf_set_print([](enum libbpf_print_level level, const char* fmt, va_list args) -> int {
        char buf[1024];
        int n = vsnprintf(buf, sizeof buf, fmt, args);
        std::string line(buf);
        while (!line.empty() && line.back() == '\n') line.pop_back();
        if (level == LIBBPF_WARN) spdlog::warn("libbpf: {}", line);
        else if (level == LIBBPF_INFO) spdlog::debug("libbpf: {}", line);
        else spdlog::trace("libbpf: {}", line);
        return n;
    });
}

Result<std::unique_ptr<DatapathObject>> DatapathObject::load(const ObjectOptions& o) {
    if (auto st = ensure_pin_dir(o.pin_dir); !st) return st.error();
    std::unique_ptr<DatapathObject> obj(new DatapathObject());
    LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = o.pin_dir.c_str());
    obj->skel_ = hopless__open_opts(&opts);
    if (!obj->skel_) return sys_error("cannot open the BPF object");
    auto& m = obj->skel_->maps;
    // Sizes from the config. A pinned map of another size is not adopted:
    // libbpf refuses it and the error below says so.
    uint32_t slots = o.max_backends * 4 > HL_DEFAULT_MAX_SLOTS ? o.max_backends * 4 : HL_DEFAULT_MAX_SLOTS;
    // max_services / max_backends count what fits. Arrays indexed by id have
    // one place more: id 0 is never handed out (it means "none").
    bpf_map__set_max_entries(m.hl_svc_v1, o.max_services);
    bpf_map__set_max_entries(m.hl_rr_v1, o.max_services + 1);
    bpf_map__set_max_entries(m.hl_svcst_v1, o.max_services + 1);
    bpf_map__set_max_entries(m.hl_svcmeta_v1, o.max_services);
    bpf_map__set_max_entries(m.hl_be_v1, o.max_backends);
    bpf_map__set_max_entries(m.hl_best_v1, o.max_backends + 1);
    bpf_map__set_max_entries(m.hl_slot_v1, slots);
    bpf_map__set_max_entries(m.hl_svclc_v1, o.max_services + 1);
    bpf_map__set_max_entries(m.hl_svcgauge_v1, o.max_services + 1);
    bpf_map__set_max_entries(m.hl_svchist_v1, o.max_services + 1);
    bpf_map__set_max_entries(m.hl_belive_v1, o.max_backends + 1);
    bpf_map__set_max_entries(m.hl_belc_v1, o.max_backends + 1);
    bpf_map__set_max_entries(m.hl_ep_v1, o.max_backends);
    bpf_map__set_max_entries(m.hl_peer_v1, o.max_backends);
    if (hopless__load(obj->skel_) != 0) {
        int err = errno;
        // A missing capability fails the same call: name it, not a pinned map.
        if (auto hint = capability_hint(err); !hint.empty())
            return Error{"cannot load the BPF datapath" + hint, err};
        return Error{"cannot load the BPF datapath (pin dir " + o.pin_dir +
                         "; a pinned map of another size or layout is refused: run hoplessd --cleanup first "
                         "to start afresh)",
                     err};
    }
    return obj;
}

DatapathObject::~DatapathObject() {
    if (skel_) hopless__destroy(skel_);
}

namespace {
template <class M>
Status dup_map(M& out, bpf_map* m) {
    int fd = fcntl(bpf_map__fd(m), F_DUPFD_CLOEXEC, 3);
    if (fd < 0) return sys_error(std::string("cannot dup fd of map ") + bpf_map__name(m));
    out = M(UniqueFd(fd), bpf_map__name(m));
    return ok_status();
}
}  // namespace

Result<MapSet> DatapathObject::maps() const {
    MapSet s;
    auto& m = skel_->maps;
    for (auto st : {dup_map(s.services, m.hl_svc_v1), dup_map(s.slots, m.hl_slot_v1), dup_map(s.backends, m.hl_be_v1),
                    dup_map(s.cgroup_ns, m.hl_cgns_v1), dup_map(s.rr, m.hl_rr_v1),
                    dup_map(s.service_stats, m.hl_svcst_v1), dup_map(s.backend_stats, m.hl_best_v1),
                    dup_map(s.affinity, m.hl_aff_v1), dup_map(s.revnat, m.hl_revnat_v1),
                    dup_map(s.service_meta, m.hl_svcmeta_v1), dup_map(s.ns_meta, m.hl_nsmeta_v1),
                    dup_map(s.service_lc, m.hl_svclc_v1), dup_map(s.service_gauge, m.hl_svcgauge_v1),
                    dup_map(s.service_hist, m.hl_svchist_v1), dup_map(s.backend_live, m.hl_belive_v1),
                    dup_map(s.backend_lc, m.hl_belc_v1), dup_map(s.endpoints, m.hl_ep_v1),
                    dup_map(s.peers, m.hl_peer_v1),
                    dup_map(s.events, m.hl_events_v1), dup_map(s.trace, m.hl_trace_v1),
                    dup_map(s.trace_ctl, m.hl_tracectl_v1)})
        if (!st) return st.error();
    return s;
}

Result<ProgramSet> DatapathObject::programs() const {
    ProgramSet out;
    for (const auto& spec : program_specs()) {
        bpf_program* p = bpf_object__find_program_by_name(skel_->obj, spec.name);
        if (!p) return Error{std::string("program ") + spec.name + " missing from the BPF object", 0};
        int fd = fcntl(bpf_program__fd(p), F_DUPFD_CLOEXEC, 3);
        if (fd < 0) return sys_error(std::string("cannot dup fd of program ") + spec.name);
        out.push_back(Program{spec.name, spec.attach_type, UniqueFd(fd)});
    }
    return out;
}

Result<UniqueFd> DatapathObject::trace_program() const {
    int fd = fcntl(bpf_program__fd(skel_->progs.hl_trace_health), F_DUPFD_CLOEXEC, 3);
    if (fd < 0) return sys_error("cannot dup fd of program hl_trace_health");
    return UniqueFd(fd);
}

}  // namespace hl
