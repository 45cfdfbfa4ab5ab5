// Which capabilities loading the datapath lacks, so that an EPERM from the
// kernel becomes an error that names them instead of a bare "Operation not
// permitted" (a unit's CapabilityBoundingSet= is the usual cause).
#pragma once

#include <string>
#include <vector>

namespace hl {

// The capabilities of the effective set that loading and attaching the
// datapath needs and this process lacks: CAP_BPF, CAP_NET_ADMIN (cgroup
// programs), CAP_PERFMON (the verifier's pointer rules). CAP_SYS_ADMIN stands
// in for all three, as in the kernel. Empty when nothing is missing or the
// set cannot be read.
std::vector<std::string> missing_bpf_capabilities();

// " (missing capability CAP_BPF, ...)" for an EPERM/EACCES when capabilities
// are missing; "" otherwise.
std::string capability_hint(int err);

}  // namespace hl
