// Typed handle on one BPF map. Owns its fd; keys and values are the ABI
// structs of include/hopless/abi.h, so no void* crosses this boundary.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
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
    // Visits every entry; f(key, value). Reads in batches (one syscall per
    // chunk instead of two per entry: at 65,536 services the CLI and every
    // metrics scrape walk several maps); maps or kernels without batch
    // support are walked key by key. Entries deleted during a key-by-key walk
    // are skipped (bpf_map_get_next_key restarts from the first key only if
    // the current one vanished).
    template <class F>
    void for_each(F&& f) const {
        if (for_each_batched(f)) return;
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

private:
    // false: batches are not supported here (nothing was visited).
    template <class F>
    bool for_each_batched(F& f) const {
        // The kernel's resume token is a bucket index (hash) or a key (array).
        alignas(8) unsigned char in[sizeof(K) > 8 ? sizeof(K) : 8] = {};
        alignas(8) unsigned char out[sizeof(in)] = {};
        uint32_t chunk = 1024;
        std::vector<K> keys(chunk);
        std::vector<V> vals(chunk);
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        for (bool first = true;;) {
            uint32_t count = chunk;
            int r = bpf_map_lookup_batch(fd(), first ? nullptr : in, out, keys.data(), vals.data(), &count, &opts);
            int err = r ? errno : 0;
            if (err == ENOSPC && chunk < (1u << 20)) {  // one hash bucket holds more than a chunk
                chunk *= 4;
                keys.resize(chunk);
                vals.resize(chunk);
                continue;
            }
            // Unsupported at the first call: walk key by key. Later, the map
            // changed under us: what was read stands, as in a key walk.
            if (err && err != ENOENT) return !first;
            for (uint32_t i = 0; i < count; ++i) f(keys[i], vals[i]);
            if (err == ENOENT) return true;  // the end
            std::memcpy(in, out, sizeof(in));
            first = false;
        }
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
