#include "bpf/socket_terminator.h"

#include <fcntl.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "bpf/map.h"
#include "common/unique_fd.h"
#include "destroy.skel.h"
#include "hopless/abi.h"

namespace hl {

namespace fs = std::filesystem;

Result<std::unique_ptr<SocketTerminator>> SocketTerminator::load(const std::string& pin_dir) {
    std::unique_ptr<SocketTerminator> t(new SocketTerminator());
    LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir.c_str());
    t->skel_ = hopless_destroy__open_opts(&opts);
    if (!t->skel_) return sys_error("cannot open the socket-termination object");
    // Shared maps are adopted from their pins, which libbpf accepts only at
    // the size they were made with (the config's maps.max_services and
    // maps.max_backends).
    for (bpf_map* m : {t->skel_->maps.hl_svcst_v1, t->skel_->maps.hl_peer_v1}) {
        const std::string pin = pin_dir + "/" + bpf_map__name(m);
        UniqueFd fd(bpf_obj_get(pin.c_str()));
        bpf_map_info info{};
        uint32_t len = sizeof info;
        if (!fd || bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0)
            return sys_error("cannot open " + pin + " (load the datapath first)");
        bpf_map__set_max_entries(m, info.max_entries);
    }
    if (hopless_destroy__load(t->skel_) != 0)
        return sys_error("cannot load the socket iterators (bpf_sock_destroy needs kernel >= 6.5)");
    t->tcp_ = bpf_program__attach_iter(t->skel_->progs.hl_destroy_tcp, nullptr);
    if (!t->tcp_) return sys_error("cannot attach the TCP socket iterator");
    t->udp_ = bpf_program__attach_iter(t->skel_->progs.hl_destroy_udp, nullptr);
    if (!t->udp_) return sys_error("cannot attach the UDP socket iterator");
    return t;
}

SocketTerminator::~SocketTerminator() {
    if (tcp_) bpf_link__destroy(tcp_);
    if (udp_) bpf_link__destroy(udp_);
    if (skel_) hopless_destroy__destroy(skel_);
}

// Reading an iterator to its end runs the program once per socket of the
// current network namespace.
Status SocketTerminator::run_iterators() const {
    for (bpf_link* l : {tcp_, udp_}) {
        UniqueFd it(bpf_iter_create(bpf_link__fd(l)));
        if (!it) return sys_error("cannot create a socket iterator");
        char buf[256];
        ssize_t n;
        while ((n = ::read(it.get(), buf, sizeof buf)) > 0) {
        }
        if (n < 0) return sys_error("socket iterator failed");
    }
    return ok_status();
}

uint64_t SocketTerminator::destroyed_count(const std::vector<Doomed>& doomed) const {
    std::set<uint32_t> services;
    for (const auto& d : doomed) services.insert(d.service_id);
    uint64_t n = 0;
    std::vector<hl_service_stats> vals(static_cast<size_t>(possible_cpus()));
    for (uint32_t id : services)
        if (bpf_map__lookup_elem(skel_->maps.hl_svcst_v1, &id, sizeof id, vals.data(),
                                 vals.size() * sizeof(hl_service_stats), 0) == 0)
            for (const auto& v : vals) n += v.sockets_destroyed;
    return n;
}

namespace {
// One fd per distinct network namespace of the tasks in these cgroups.
// A task whose namespace cannot be opened for want of CAP_SYS_PTRACE (a task
// with capabilities the daemon lacks) is counted in `denied`, not skipped
// silently like one that has exited.
std::vector<UniqueFd> task_namespaces(const std::vector<std::string>& cgroups, ino_t own, size_t& denied) {
    std::vector<UniqueFd> out;
    std::set<ino_t> seen{own};
    auto visit = [&](const fs::path& dir) {
        std::ifstream procs(dir / "cgroup.procs");
        pid_t pid;
        while (procs >> pid) {
            int fd = ::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                if (errno == EACCES || errno == EPERM) ++denied;
                continue;  // else the task has exited
            }
            struct stat st {};
            if (fstat(fd, &st) == 0 && seen.insert(st.st_ino).second) out.emplace_back(fd);
            else ::close(fd);
        }
    };
    for (const auto& cg : cgroups) {
        std::error_code ec;
        visit(cg);
        for (fs::recursive_directory_iterator it(cg, ec), end; !ec && it != end; it.increment(ec))
            if (it->is_directory(ec)) visit(it->path());
    }
    return out;
}
}  // namespace

Result<uint64_t> SocketTerminator::terminate(const std::vector<Doomed>& doomed,
                                             const std::vector<std::string>& cgroup_paths) {
    if (doomed.empty()) return uint64_t{0};
    bpf_map* dm = skel_->maps.hl_doomed_v1;
    for (const auto& d : doomed)
        if (bpf_map__update_elem(dm, &d.backend_id, sizeof d.backend_id, &d.service_id, sizeof d.service_id, 0) != 0)
            return sys_error("cannot mark backend " + std::to_string(d.backend_id) + " for socket termination");
    uint64_t before = destroyed_count(doomed);
    struct stat own {};
    ::stat("/proc/self/ns/net", &own);
    Status st = run_iterators();
    size_t denied = 0;
    auto namespaces = task_namespaces(cgroup_paths, own.st_ino, denied);
    if (denied > 0)
        spdlog::warn("socket termination: {} tasks' network namespaces cannot be opened (needs CAP_SYS_PTRACE): "
                     "their sockets are not terminated",
                     denied);
    // setns() changes only the calling thread: a short-lived thread visits
    // each task namespace and the daemon's own threads stay where they are.
    std::thread visitor([&] {
        for (const auto& ns : namespaces) {
            if (::setns(ns.get(), CLONE_NEWNET) != 0) {
                int err = errno;
                spdlog::warn("socket termination: cannot enter a task's network namespace: {}{}", strerror(err),
                             err == EPERM ? " (needs CAP_SYS_ADMIN)" : "");
                continue;
            }
            if (auto r = run_iterators(); !r) spdlog::warn("socket termination: {}", r.error().what());
        }
    });
    visitor.join();
    for (const auto& d : doomed) bpf_map__delete_elem(dm, &d.backend_id, sizeof d.backend_id, 0);
    if (!st) return st.error();
    return destroyed_count(doomed) - before;
}

}  // namespace hl
