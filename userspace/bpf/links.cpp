#include "bpf/links.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "bpf/cgroup.h"

namespace hl {

namespace fs = std::filesystem;

namespace {
uint32_t link_prog_id(int link_fd) {
    bpf_link_info info;
    std::memset(&info, 0, sizeof info);
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(link_fd, &info, &len) != 0) return 0;
    return info.prog_id;
}

Status update_link(const std::string& path, const Program& p) {
    UniqueFd link(bpf_obj_get(path.c_str()));
    if (!link) return sys_error("cannot open pinned link " + path);
    if (link_prog_id(link.get()) == prog_id_of(p.fd.get())) return ok_status();
    if (bpf_link_update(link.get(), p.fd.get(), nullptr) != 0) return sys_error("cannot update link " + path);
    return ok_status();
}
}  // namespace

std::string LinkStore::dir_of(uint64_t cgroup_id) const {
    return links_dir(pin_dir_) + "/" + std::to_string(cgroup_id);
}

Status LinkStore::attach(uint64_t cgroup_id, const std::string& cgroup_path, const ProgramSet& progs) {
    std::error_code ec;
    fs::create_directories(dir_of(cgroup_id), ec);
    if (ec) return Error{"cannot create " + dir_of(cgroup_id) + ": " + ec.message(), ec.value()};
    auto cg = open_cgroup(cgroup_path);
    if (!cg) return cg.error();
    for (const auto& p : progs) {
        std::string path = dir_of(cgroup_id) + "/" + p.name;
        if (::access(path.c_str(), F_OK) == 0) {
            if (auto st = update_link(path, p); !st) return st;
            continue;
        }
        UniqueFd link(bpf_link_create(p.fd.get(), cg->get(), p.attach_type, nullptr));
        if (!link) return sys_error("cannot attach " + p.name + " to cgroup " + cgroup_path);
        if (bpf_obj_pin(link.get(), path.c_str()) != 0) return sys_error("cannot pin link " + path);
    }
    return ok_status();
}

Status LinkStore::detach(uint64_t cgroup_id) {
    std::error_code ec;
    fs::remove_all(dir_of(cgroup_id), ec);  // the last reference to a link goes: detached
    if (ec) return Error{"cannot remove " + dir_of(cgroup_id) + ": " + ec.message(), ec.value()};
    return ok_status();
}

std::vector<uint64_t> LinkStore::attached() const {
    std::vector<uint64_t> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(links_dir(pin_dir_), ec)) {
        try {
            out.push_back(std::stoull(e.path().filename().string()));
        } catch (...) {
        }
    }
    return out;
}

Status LinkStore::upgrade_all(const ProgramSet& progs) {
    for (uint64_t id : attached()) {
        ProgramSet missing;
        for (const auto& p : progs) {
            std::string path = dir_of(id) + "/" + p.name;
            if (::access(path.c_str(), F_OK) != 0) {
                missing.push_back(Program{p.name, p.attach_type, UniqueFd()});
                continue;
            }
            if (auto st = update_link(path, p); !st) return st;
        }
        if (missing.empty()) continue;
        // Attached by an older build that had no such program (sockops came
        // later): attach it now, found by the cgroup's id. A cgroup that is
        // gone has nothing to attach to.
        std::string cg = cgroup_path_of(id);
        if (cg.empty()) continue;
        ProgramSet add;
        for (const auto& m : missing)
            for (const auto& p : progs)
                if (p.name == m.name) add.push_back(Program{p.name, p.attach_type, UniqueFd(dup(p.fd.get()))});
        if (auto st = attach(id, cg, add); !st) return st;
    }
    return ok_status();
}

}  // namespace hl
