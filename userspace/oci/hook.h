// `hopless oci-hook`: what one run of the hook does, apart from how it talks
// to the daemon (ControlApi) and how it looks at the container (Probe), so
// both can be faked in unit tests.
//
// poststart: parse the annotations; find the cgroup and the address (before
//   anything changes: a bad container changes nothing); write the record of
//   everything it is about to do; attach the cgroup; register each endpoint.
//   On a failure it undoes what it did, removes the record and fails.
// poststop: undo what the record lists (deregister, then detach) and remove
//   it. Undoing what is already gone counts as done. A failure keeps what is
//   left in the record and fails.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "model/address.h"
#include "oci/annotations.h"
#include "oci/record.h"
#include "oci/state.h"

namespace hl::oci {

enum class Stage { Poststart, Poststop };
const char* to_string(Stage s);

// The stage from the explicit argument when given ("poststart" |
// "poststop"), else from state.status: created/running at poststart (runc
// 1.1 passes "created"), stopped at poststop.
Result<Stage> stage_of(const ContainerState& state, std::optional<std::string_view> explicit_stage);

// The daemon's side, through the control API. The undo calls succeed when
// there is nothing to undo (not registered, not attached).
class ControlApi {
public:
    virtual ~ControlApi() = default;
    virtual Status attach_cgroup(const std::string& path, const std::string& ns) = 0;
    virtual Status detach_cgroup(const std::string& path) = 0;
    virtual Status register_endpoint(const RecordedEndpoint& e) = 0;
    virtual Status deregister_endpoint(const RecordedEndpoint& e) = 0;
};

class Probe {
public:
    virtual ~Probe() = default;
    virtual Result<std::string> cgroup(pid_t pid) = 0;  // absolute cgroup v2 path
    virtual Result<uint64_t> cgroup_id(const std::string& path) = 0;
    virtual Result<IpAddress> address(pid_t pid) = 0;
};

// The real one: /proc/PID/cgroup, the cgroup's file handle, the netns.
class ProcProbe : public Probe {
public:
    Result<std::string> cgroup(pid_t pid) override;
    Result<uint64_t> cgroup_id(const std::string& path) override;
    Result<IpAddress> address(pid_t pid) override;
};

struct HookResult {
    Stage stage = Stage::Poststart;
    std::string container_id;
    HookRecord done;  // what was attached/registered (poststart) or undone (poststop)
    bool acted() const { return !done.empty(); }
};

// The annotations to act on: the state's, else (absent or empty) those of
// the bundle's config.json.
Result<Annotations> annotations_of(const ContainerState& state);

Result<HookResult> run_hook(const ContainerState& state, Stage stage, ControlApi& api, Probe& probe,
                            const RecordStore& records);

}  // namespace hl::oci
