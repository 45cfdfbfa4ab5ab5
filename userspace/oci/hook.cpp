#include "oci/hook.h"

#include "bpf/cgroup.h"
#include "control/path.h"
#include "oci/container.h"

namespace hl::oci {

const char* to_string(Stage s) { return s == Stage::Poststart ? "poststart" : "poststop"; }

Result<Stage> stage_of(const ContainerState& state, std::optional<std::string_view> explicit_stage) {
    if (explicit_stage) {
        if (*explicit_stage == "poststart") return Stage::Poststart;
        if (*explicit_stage == "poststop") return Stage::Poststop;
        return Error{"stage '" + std::string(explicit_stage->substr(0, 64)) + "' is not poststart or poststop", 0};
    }
    if (state.status == "created" || state.status == "running") return Stage::Poststart;
    if (state.status == "stopped") return Stage::Poststop;
    return Error{"state.status '" + state.status.substr(0, 64) +
                     "' is not one of a poststart (created, running) or a poststop (stopped) hook; "
                     "name the stage: hopless oci-hook poststart|poststop",
                 0};
}

Result<std::string> ProcProbe::cgroup(pid_t pid) { return process_cgroup(pid); }
Result<uint64_t> ProcProbe::cgroup_id(const std::string& path) { return hl::cgroup_id(path); }
Result<IpAddress> ProcProbe::address(pid_t pid) { return process_address(pid); }

Result<Annotations> annotations_of(const ContainerState& state) {
    if (state.annotations && !state.annotations->empty()) return *state.annotations;
    if (state.bundle.empty()) return Annotations{};
    return read_bundle_annotations(state.bundle);
}

namespace {

// Undoes `r` as far as it can: endpoints first (no new connects to a task
// that is going), then the cgroup. What could not be undone stays in r.
Status undo(HookRecord& r, ControlApi& api, HookRecord* undone) {
    Status first = ok_status();
    std::vector<RecordedEndpoint> left;
    for (auto& e : r.endpoints) {
        if (auto st = api.deregister_endpoint(e); !st) {
            if (first) first = Error{"deregister " + e.ns + "/" + e.service + " id " + e.id + ": " + st.error().what(), 0};
            left.push_back(std::move(e));
        } else if (undone) {
            undone->endpoints.push_back(e);
        }
    }
    r.endpoints = std::move(left);
    if (r.cgroup) {
        if (auto st = api.detach_cgroup(*r.cgroup); !st) {
            if (first) first = Error{"detach " + *r.cgroup + ": " + st.error().what(), 0};
        } else {
            if (undone) {
                undone->cgroup = r.cgroup;
                undone->cgroup_id = r.cgroup_id;
                undone->cgroup_ns = r.cgroup_ns;
            }
            r.cgroup.reset();
        }
    }
    return first;
}

// Poststop of `r`: undo, then forget it, or keep what is left for a retry.
Status undo_record(HookRecord r, ControlApi& api, const RecordStore& records, HookRecord* undone) {
    auto st = undo(r, api, undone);
    if (r.empty()) {
        if (auto rm = records.remove(r.container_id); !rm) return rm;
        return st;
    }
    if (auto sv = records.save(r); !sv)
        return Error{st.error().what() + "; and the record of what is left could not be saved: " + sv.error().what(), 0};
    return st;
}

Result<HookResult> poststart(const ContainerState& state, ControlApi& api, Probe& probe, const RecordStore& records) {
    HookResult res{Stage::Poststart, state.id, {}};
    auto ann = annotations_of(state);
    if (!ann) return ann.error();
    auto req = parse_annotations(*ann);
    if (!req) return req.error();
    if (!req->wanted()) return res;
    if (!state.pid) return Error{"state.pid: missing (poststart needs the container's process)", 0};

    // Everything the hook needs to know first: a container we cannot read
    // changes nothing.
    HookRecord plan;
    plan.container_id = state.id;
    if (req->attach_ns) {
        auto cg = probe.cgroup(*state.pid);
        if (!cg) return Error{"cgroup of pid " + std::to_string(*state.pid) + ": " + cg.error().what(), 0};
        auto id = probe.cgroup_id(*cg);
        if (!id) return id.error();
        plan.cgroup = *cg;
        plan.cgroup_id = *id;
        plan.cgroup_ns = *req->attach_ns;
    }
    if (!req->registrations.empty()) {
        IpAddress addr;
        if (req->address) {
            addr = *req->address;
        } else {
            auto a = probe.address(*state.pid);
            if (!a) return Error{"address of pid " + std::to_string(*state.pid) + ": " + a.error().what(), 0};
            addr = *a;
        }
        for (const auto& r : req->registrations) {
            std::string id = endpoint_id(state.id, r);
            if (!control::valid_endpoint_id(id))
                return Error{"state.id: '" + state.id.substr(0, 64) + "' makes endpoint id '" + id.substr(0, 64) +
                                 "', which the control API refuses (1-128 of A-Z a-z 0-9 . _ : - [ ]): use a shorter "
                                 "container id without '+'",
                             0};
            plan.endpoints.push_back({req->ns, r.service, std::move(id), addr, r.port});
        }
    }

    // A record left by an earlier container of this id (its poststop never
    // ran) is undone first: its endpoints would otherwise outlive it.
    auto stale = records.load(state.id);
    if (!stale) return stale.error();
    if (*stale) {
        if (auto st = undo_record(std::move(**stale), api, records, nullptr); !st)
            return Error{"undoing what an earlier container '" + state.id + "' left: " + st.error().what(), 0};
    }

    // The record first, of all it is about to do: were the hook killed
    // half-way (runc's hook timeout), poststop still undoes all of it, and
    // undoing what was never done is harmless.
    if (auto st = records.save(plan); !st) return st.error();
    HookRecord done;
    done.container_id = state.id;
    Status status = ok_status();
    if (plan.cgroup) {
        if (auto st = api.attach_cgroup(*plan.cgroup, plan.cgroup_ns); !st) {
            status = Error{"attach " + *plan.cgroup + " to namespace " + plan.cgroup_ns + ": " + st.error().what(), 0};
        } else {
            done.cgroup = plan.cgroup;
            done.cgroup_id = plan.cgroup_id;
            done.cgroup_ns = plan.cgroup_ns;
        }
    }
    for (const auto& e : plan.endpoints) {
        if (!status) break;
        if (auto st = api.register_endpoint(e); !st)
            status = Error{"register " + e.address.with_port(e.port) + " as " + e.ns + "/" + e.service + " id " + e.id +
                               ": " + st.error().what(),
                           0};
        else
            done.endpoints.push_back(e);
    }
    if (!status) {
        // Leave nothing half-done behind a failed start: a runtime need not
        // run poststop after a failed poststart.
        if (auto st = undo_record(plan, api, records, nullptr); !st)
            return Error{status.error().what() + " (undo failed too: " + st.error().what() + "; record kept in " +
                             records.path(state.id) + ")",
                         0};
        return status.error();
    }
    res.done = std::move(done);
    return res;
}

Result<HookResult> poststop(const ContainerState& state, ControlApi& api, const RecordStore& records) {
    HookResult res{Stage::Poststop, state.id, {}};
    res.done.container_id = state.id;
    auto rec = records.load(state.id);
    if (!rec) return rec.error();
    if (!*rec) return res;  // the hook attached nothing for this container
    if (auto st = undo_record(std::move(**rec), api, records, &res.done); !st)
        return Error{st.error().what() + " (what is left stays in " + records.path(state.id) + ")", 0};
    return res;
}

}  // namespace

Result<HookResult> run_hook(const ContainerState& state, Stage stage, ControlApi& api, Probe& probe,
                            const RecordStore& records) {
    if (stage == Stage::Poststart) return poststart(state, api, probe, records);
    return poststop(state, api, records);
}

}  // namespace hl::oci
