// Typed handle on one BPF map. Owns its fd; keys and values are the ABI
// structs of include/hopless/abi.h, so no void* crosses this boundary.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace hl {

int possible_cpus();

class MapBase {
public:
    MapBase() = default;
    MapBase(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
    int fd() const { return fd_.get(); }
    const std::string& name() const { return name_; }
    bool valid() const { return fd_.valid(); }

    // Opens a map pinned at `path`; the error names the path.
    static Result<UniqueFd> open_pinned(const std::string& path);

protected:
    UniqueFd fd_;
    std::string name_;
};

template <class K, class V>
class Map : public MapBase {
public:
    using MapBase::MapBase;

    std::optional<V> lookup(const K& key) const {
        V v{};
        if (bpf_map_lookup_elem(fd(), &key, &v) != 0) return std::nullopt;
        return v;
    }
    Status update(const K& key, const V& value, uint64_t flags = BPF_ANY) {
        if (bpf_map_update_elem(fd(), &key, &value, flags) != 0) return sys_error("update of map " + name_);
        return ok_status();
    }
    // Deleting what is not there is not an error: the goal state is reached.
    Status erase(const K& key) {
        if (bpf_map_delete_elem(fd(), &key) != 0 && errno != ENOENT) return sys_error("delete from map " + name_);
        return ok_status();
    }
    // Visits every entry; f(key, value). Entries deleted during the walk are
    // skipped (the walk restarts from the map's first key only if the kernel
    // says the current key vanished, as bpf_map_get_next_key does).
    template <class F>
    void for_each(F&& f) const {
        K key{}, next{};
        const K* cur = nullptr;
        while (bpf_map_get_next_key(fd(), cur, &next) == 0) {
            V v{};
            if (bpf_map_lookup_elem(fd(), &next, &v) == 0) f(next, v);
            key = next;
            cur = &key;
        }
    }
    std::vector<K> keys() const {
        std::vector<K> out;
        for_each([&](const K& k, const V&) { out.push_back(k); });
        return out;
    }
};

// Per-CPU array: a lookup returns one value per possible CPU.
template <class V>
class PerCpuArray : public MapBase {
public:
    using MapBase::MapBase;

    std::vector<V> lookup(uint32_t index) const {
        std::vector<V> vals(static_cast<size_t>(possible_cpus()));
        if (bpf_map_lookup_elem(fd(), &index, vals.data()) != 0) vals.clear();
        return vals;
    }
    Status reset(uint32_t index) {
        std::vector<V> zeros(static_cast<size_t>(possible_cpus()));
        if (bpf_map_update_elem(fd(), &index, zeros.data(), BPF_ANY) != 0)
            return sys_error("reset of map " + name_ + " entry " + std::to_string(index));
        return ok_status();
    }
};

}  // namespace hl
