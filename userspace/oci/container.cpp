#include "oci/container.h"

#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "bpf/cgroup.h"
#include "common/unique_fd.h"

namespace hl::oci {

Result<std::string> parse_proc_cgroup(std::string_view text) {
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (!line.starts_with("0::")) continue;
        std::string_view path = line.substr(3);
        if (path.ends_with(" (deleted)")) return Error{"the process's cgroup v2 directory was removed", 0};
        if (!path.starts_with("/")) return Error{"cgroup v2 path '" + std::string(path.substr(0, 200)) + "' is not absolute", 0};
        // A cgroup outside the reader's cgroup namespace shows as "/../x":
        // it cannot be found under our mount.
        std::string p(path);
        if (p == "/.." || p.starts_with("/../") || p.find("/../") != std::string::npos || p.ends_with("/.."))
            return Error{"cgroup v2 path '" + p.substr(0, 200) + "' is outside this process's cgroup namespace", 0};
        return p;
    }
    return Error{"no cgroup v2 line (0::PATH): the process is not in a cgroup v2 hierarchy", 0};
}

Result<std::string> process_cgroup(pid_t pid) {
    std::string file = "/proc/" + std::to_string(pid) + "/cgroup";
    std::ifstream in(file);
    if (!in) return sys_error("cannot read " + file + " (is process " + std::to_string(pid) + " running?)");
    std::stringstream ss;
    ss << in.rdbuf();
    auto rel = parse_proc_cgroup(ss.str());
    if (!rel) return Error{file + ": " + rel.error().message, 0};
    auto mnt = cgroup2_mount();
    if (!mnt) return mnt.error();
    std::string abs = *rel == "/" ? *mnt : *mnt + *rel;
    return resolve_cgroup(abs);
}

bool is_global(const IpAddress& a) {
    const auto& b = a.bytes();
    if (a.is_v4()) {
        uint32_t v = a.v4_host_order();
        if (v == 0) return false;
        if ((v >> 24) == 127) return false;                    // loopback
        if ((v >> 16) == ((169u << 8) | 254u)) return false;   // link-local
        if ((v >> 28) == 0xe) return false;                    // multicast
        return true;
    }
    bool zero = true;
    for (size_t i = 0; i < 15; ++i) zero = zero && b[i] == 0;
    if (zero && (b[15] == 0 || b[15] == 1)) return false;       // :: and ::1
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;   // fe80::/10
    if (b[0] == 0xff) return false;                            // multicast
    return true;
}

Result<IpAddress> pick_address(const std::vector<InterfaceAddress>& seen) {
    for (int want_v4 = 1; want_v4 >= 0; --want_v4)
        for (const auto& s : seen)
            if (s.up && !s.loopback && s.address.is_v4() == bool(want_v4) && is_global(s.address)) return s.address;
    std::string list;
    for (const auto& s : seen) {
        if (list.size() > 300) {
            list += ", ...";
            break;
        }
        list += (list.empty() ? "" : ", ") + s.interface + " " + s.address.to_string() + (s.up ? "" : " (down)");
    }
    return Error{"no global address in the container's network namespace (seen: " + (list.empty() ? "none" : list) +
                     "); give one with io.hopless.address",
                 0};
}

Result<std::vector<InterfaceAddress>> process_addresses(pid_t pid) {
    std::string ns_path = "/proc/" + std::to_string(pid) + "/ns/net";
    UniqueFd ns(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) return sys_error("cannot open " + ns_path);
    // setns() moves only the calling thread: a short-lived thread joins the
    // container's netns, reads its addresses and ends, so this process's
    // other threads never leave their namespace and nothing must be restored.
    Result<std::vector<InterfaceAddress>> out = Error{"", 0};
    std::thread reader([&] {
        if (::setns(ns.get(), CLONE_NEWNET) != 0) {
            out = sys_error("cannot join the network namespace " + ns_path);
            return;
        }
        struct ifaddrs* list = nullptr;
        if (::getifaddrs(&list) != 0) {
            out = sys_error("cannot list the addresses in " + ns_path);
            return;
        }
        std::vector<InterfaceAddress> seen;
        for (auto* i = list; i; i = i->ifa_next) {
            if (!i->ifa_addr) continue;
            IpAddress a;
            if (i->ifa_addr->sa_family == AF_INET) {
                a = IpAddress::v4(ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr));
            } else if (i->ifa_addr->sa_family == AF_INET6) {
                a = IpAddress::from_bytes(reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr.s6_addr);
            } else {
                continue;
            }
            seen.push_back({i->ifa_name ? i->ifa_name : "?", a, (i->ifa_flags & IFF_UP) != 0,
                            (i->ifa_flags & IFF_LOOPBACK) != 0});
        }
        ::freeifaddrs(list);
        out = std::move(seen);
    });
    reader.join();
    return out;
}

Result<IpAddress> process_address(pid_t pid) {
    auto seen = process_addresses(pid);
    if (!seen) return seen.error();
    return pick_address(*seen);
}

}  // namespace hl::oci
