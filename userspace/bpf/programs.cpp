#include "bpf/programs.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace hl {

const std::vector<ProgramSpec>& program_specs() {
    static const std::vector<ProgramSpec> specs = {
        {"hl_connect4", BPF_CGROUP_INET4_CONNECT},
        {"hl_connect6", BPF_CGROUP_INET6_CONNECT},
        {"hl_getpeername4", BPF_CGROUP_INET4_GETPEERNAME},
        {"hl_getpeername6", BPF_CGROUP_INET6_GETPEERNAME},
        {"hl_sendmsg4", BPF_CGROUP_UDP4_SENDMSG},
        {"hl_sendmsg6", BPF_CGROUP_UDP6_SENDMSG},
        {"hl_recvmsg4", BPF_CGROUP_UDP4_RECVMSG},
        {"hl_recvmsg6", BPF_CGROUP_UDP6_RECVMSG},
        {"hl_bind4", BPF_CGROUP_INET4_BIND},
        {"hl_bind6", BPF_CGROUP_INET6_BIND},
        {"hl_sockops", BPF_CGROUP_SOCK_OPS},
    };
    return specs;
}

std::string progs_dir(const std::string& pin_dir) { return pin_dir + "/progs"; }
std::string links_dir(const std::string& pin_dir) { return pin_dir + "/links"; }

Result<ProgramSet> open_pinned_programs(const std::string& pin_dir) {
    ProgramSet out;
    for (const auto& spec : program_specs()) {
        std::string path = progs_dir(pin_dir) + "/" + spec.name;
        int fd = bpf_obj_get(path.c_str());
        if (fd < 0) return sys_error("cannot open pinned program " + path + " (start hoplessd once to load them)");
        out.push_back(Program{spec.name, spec.attach_type, UniqueFd(fd)});
    }
    return out;
}

Status pin_programs(const ProgramSet& progs, const std::string& pin_dir) {
    std::error_code ec;
    std::filesystem::create_directories(progs_dir(pin_dir), ec);
    if (ec) return Error{"cannot create " + progs_dir(pin_dir) + ": " + ec.message(), ec.value()};
    for (const auto& p : progs) {
        std::string path = progs_dir(pin_dir) + "/" + p.name;
        ::unlink(path.c_str());  // a pin of the previous daemon's program
        if (bpf_obj_pin(p.fd.get(), path.c_str()) != 0) return sys_error("cannot pin program " + path);
    }
    return ok_status();
}

uint32_t prog_id_of(int fd) {
    bpf_prog_info info;
    std::memset(&info, 0, sizeof info);
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return 0;
    return info.id;
}

}  // namespace hl
