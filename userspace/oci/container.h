// What the hook learns about a running container from /proc: its cgroup v2
// directory and its address. Both need the process, so only at poststart.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "model/address.h"

namespace hl::oci {

// The path in the "0::PATH" line of a /proc/PID/cgroup text (the cgroup v2
// hierarchy), relative to the cgroup v2 mount. "/" is the root cgroup.
Result<std::string> parse_proc_cgroup(std::string_view text);
// The absolute cgroup v2 directory of process pid: its /proc/PID/cgroup
// line mapped onto the cgroup v2 mount from /proc/mounts (/sys/fs/cgroup or
// /sys/fs/cgroup/unified).
Result<std::string> process_cgroup(pid_t pid);

struct InterfaceAddress {
    std::string interface;
    IpAddress address;
    bool up = true;
    bool loopback = false;  // the interface is a loopback one
};

// Global: not loopback (127/8, ::1), not link-local (169.254/16, fe80::/10),
// not unspecified.
bool is_global(const IpAddress& a);
// The first global IPv4 address of an up, non-loopback interface, else the
// first global IPv6 one; an error lists what was seen.
Result<IpAddress> pick_address(const std::vector<InterfaceAddress>& seen);
// The addresses of the network namespace of process pid (read by a thread
// that joins /proc/PID/ns/net; the calling thread's namespace is untouched).
Result<std::vector<InterfaceAddress>> process_addresses(pid_t pid);
// pick_address(process_addresses(pid)).
Result<IpAddress> process_address(pid_t pid);

}  // namespace hl::oci
