#include "bpf/capabilities.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace hl {

namespace {
bool has(const __user_cap_data_struct (&data)[_LINUX_CAPABILITY_U32S_3], int cap) {
    return data[cap / 32].effective & (1u << (cap % 32));
}
}  // namespace

std::vector<std::string> missing_bpf_capabilities() {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    // glibc has no capget wrapper; the raw call needs no libcap.
    if (syscall(SYS_capget, &hdr, data) != 0) return {};
    if (has(data, CAP_SYS_ADMIN)) return {};
    std::vector<std::string> missing;
    if (!has(data, CAP_BPF)) missing.push_back("CAP_BPF");
    if (!has(data, CAP_NET_ADMIN)) missing.push_back("CAP_NET_ADMIN");
    if (!has(data, CAP_PERFMON)) missing.push_back("CAP_PERFMON");
    return missing;
}

std::string capability_hint(int err) {
    // EINVAL too: without CAP_PERFMON the verifier does not know the BTF
    // helpers the sockops program calls (bpf_skc_to_tcp_sock) and refuses
    // the program as invalid rather than as not permitted.
    if (err != EPERM && err != EACCES && err != EINVAL) return "";
    auto missing = missing_bpf_capabilities();
    if (missing.empty()) return "";
    std::string list;
    for (const auto& c : missing) list += (list.empty() ? "" : ", ") + c;
    return " (missing capability " + list + "; the datapath needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)";
}

}  // namespace hl
