// cgroup v2 paths and ids. The mount is found from /proc/mounts, so hybrid
// (/sys/fs/cgroup/unified) and unified (/sys/fs/cgroup) hosts both work.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"

namespace hl {

Result<std::string> cgroup2_mount();
// Absolute path of a cgroup given absolute or relative to the v2 mount;
// the error says when it does not exist or is not a cgroup v2 directory.
Result<std::string> resolve_cgroup(const std::string& path);
// The id bpf_get_current_cgroup_id() reports for tasks of this cgroup.
Result<uint64_t> cgroup_id(const std::string& abs_path);
Result<UniqueFd> open_cgroup(const std::string& abs_path);
// The cgroup v2 directory of a process (its "0::" line of /proc/PID/cgroup,
// under the v2 mount); the error says when there is no such process.
Result<std::string> cgroup_of_pid(int pid);
// Path of the cgroup with this id below the v2 mount ("" when not found).
std::string cgroup_path_of(uint64_t id);

// Mounts bpffs at /sys/fs/bpf when missing and creates dir (mkdir -p).
Status ensure_pin_dir(const std::string& dir);

}  // namespace hl
