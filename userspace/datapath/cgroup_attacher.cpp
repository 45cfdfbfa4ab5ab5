#include "datapath/cgroup_attacher.h"

#include "bpf/cgroup.h"

namespace hl {

Result<CgroupAttacher::Resolved> KernelCgroupAttacher::resolve(const std::string& path) {
    auto abs = resolve_cgroup(path);
    if (!abs) return abs.error();
    auto id = cgroup_id(*abs);
    if (!id) return id.error();
    return Resolved{*abs, *id};
}

}  // namespace hl
