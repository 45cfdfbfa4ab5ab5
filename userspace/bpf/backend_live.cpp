#include "bpf/backend_live.h"

#include <bpf/bpf.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

namespace hl {

Result<std::unique_ptr<BackendLive>> BackendLive::open(UniqueFd map_fd, std::string name) {
    std::unique_ptr<BackendLive> l(new BackendLive());
    l->fd_ = std::move(map_fd);
    l->name_ = std::move(name);
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(l->fd_.get(), &info, &len) != 0) return sys_error("map " + l->name_ + ": info");
    if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != sizeof(hl_backend_live) || info.key_size != 4)
        return Error{"map " + l->name_ + " is not an ARRAY of struct hl_backend_live", 0};
    l->max_entries_ = info.max_entries;
    if (info.map_flags & BPF_F_MMAPABLE) {
        const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
        l->len_ = (size_t{info.max_entries} * sizeof(hl_backend_live) + page - 1) / page * page;
        void* m = ::mmap(nullptr, l->len_, PROT_READ | PROT_WRITE, MAP_SHARED, l->fd_.get(), 0);
        if (m == MAP_FAILED) return sys_error("map " + l->name_ + ": mmap");
        l->mem_ = static_cast<hl_backend_live*>(m);
    }
    return l;
}

BackendLive::~BackendLive() {
    if (mem_) ::munmap(mem_, len_);
}

std::optional<hl_backend_live> BackendLive::read(uint32_t id) const {
    if (id >= max_entries_) return std::nullopt;
    if (mem_) {
        hl_backend_live v{};
        v.active = __atomic_load_n(&mem_[id].active, __ATOMIC_RELAXED);
        v.consecutive_failures = __atomic_load_n(&mem_[id].consecutive_failures, __ATOMIC_RELAXED);
        return v;
    }
    hl_backend_live v{};
    if (bpf_map_lookup_elem(fd_.get(), &id, &v) != 0) return std::nullopt;
    return v;
}

Status BackendLive::reset_failures(uint32_t id) {
    if (id >= max_entries_) return Error{"map " + name_ + ": backend id " + std::to_string(id) + " out of range", 0};
    if (mem_) {
        __atomic_store_n(&mem_[id].consecutive_failures, 0u, __ATOMIC_RELAXED);
        return ok_status();
    }
    if (!warned_) {
        warned_ = true;
        spdlog::warn("map {} is not mmapable: a failure count is reset by rewriting the whole value, which may "
                     "lose a concurrent change of the backend's active connections",
                     name_);
    }
    hl_backend_live v{};
    if (bpf_map_lookup_elem(fd_.get(), &id, &v) != 0) return sys_error("map " + name_ + ": lookup");
    v.consecutive_failures = 0;
    if (bpf_map_update_elem(fd_.get(), &id, &v, BPF_EXIST) != 0) return sys_error("map " + name_ + ": update");
    return ok_status();
}

}  // namespace hl
