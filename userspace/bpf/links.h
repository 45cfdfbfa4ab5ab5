// Cgroup attachments as pinned bpf_links: <pin_dir>/links/<cgroup id>/<prog>.
// A pinned link outlives the daemon (invariant 4); removing the pins detaches.
// Links attach with multi semantics, so other BPF users of the cgroup keep
// theirs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bpf/programs.h"
#include "common/error.h"

namespace hl {

class LinkStore {
public:
    explicit LinkStore(std::string pin_dir) : pin_dir_(std::move(pin_dir)) {}

    // Attaches every program to the cgroup; where a pinned link exists it is
    // pointed at the given program in one atomic step (bpf_link_update), so a
    // restarted daemon upgrades the datapath without a gap.
    Status attach(uint64_t cgroup_id, const std::string& cgroup_path, const ProgramSet& progs);
    Status detach(uint64_t cgroup_id);
    std::vector<uint64_t> attached() const;
    // Points every pinned link at the given programs.
    Status upgrade_all(const ProgramSet& progs);

private:
    std::string dir_of(uint64_t cgroup_id) const;
    std::string pin_dir_;
};

}  // namespace hl
