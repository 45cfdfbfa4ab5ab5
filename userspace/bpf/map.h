// Typed handle on one BPF map. Owns its fd; keys and values are the ABI
// structs of include/hopless/abi.h, so no void* crosses this boundary.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>

#include <unistd.h>

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
    static_assert(sizeof(V) % 8 == 0, "per-CPU values are laid out 8-byte aligned");

    std::vector<V> lookup(uint32_t index) const {
        std::vector<V> vals(static_cast<size_t>(possible_cpus()));
        if (bpf_map_lookup_elem(fd(), &index, vals.data()) != 0) vals.clear();
        return vals;
    }
    // Visits every index in [0, end) that `want` accepts with its per-CPU
    // values: f(index, const V* values, ncpus). Reads in batches (one
    // syscall per 256 indexes), so a view of 65,536 services does not cost
    // 65,536 lookups; falls back to one lookup per index without batches.
    template <class Want, class F>
    void for_each(uint32_t end, Want&& want, F&& f) const {
        const size_t ncpu = static_cast<size_t>(possible_cpus());
        const uint32_t chunk = 256;
        std::vector<uint32_t> keys(chunk);
        std::vector<V> vals(chunk * ncpu);
        uint32_t in = 0, out = 0;
        bool batched = true;
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        for (uint32_t start = 0; start < end && batched;) {
            uint32_t count = chunk;
            int r = bpf_map_lookup_batch(fd(), start ? &in : nullptr, &out, keys.data(), vals.data(), &count, &opts);
            int err = r ? errno : 0;
            if (err && err != ENOENT) {
                if (start == 0) batched = false;  // not supported: below, one by one
                break;
            }
            for (uint32_t i = 0; i < count && keys[i] < end; ++i)
                if (want(keys[i])) f(keys[i], &vals[i * ncpu], ncpu);
            if (err == ENOENT || count == 0 || keys[count - 1] + 1 >= end) break;
            start = keys[count - 1] + 1;
            in = out;
        }
        if (batched) return;
        for (uint32_t i = 0; i < end; ++i) {
            if (!want(i)) continue;
            auto v = lookup(i);
            if (!v.empty()) f(i, v.data(), v.size());
        }
    }
    Status reset(uint32_t index) {
        std::vector<V> zeros(static_cast<size_t>(possible_cpus()));
        if (bpf_map_update_elem(fd(), &index, zeros.data(), BPF_ANY) != 0)
            return sys_error("reset of map " + name_ + " entry " + std::to_string(index));
        return ok_status();
    }
};

// An ARRAY map made with BPF_F_MMAPABLE. Reads go through the syscall
// (batched for many indexes), so a reader does not map, and count in its
// RSS, megabytes of kernel memory it only glances at; the one who writes
// single fields (at()) maps it on first use: an atomic store to one field
// cannot undo the kernel's concurrent change of another, as a map update,
// which writes the whole value, would.
template <class V>
class MappedArray : public MapBase {
public:
    MappedArray() = default;
    MappedArray(UniqueFd fd, std::string name) : MapBase(std::move(fd), std::move(name)) {}
    MappedArray(MappedArray&& o) noexcept : MapBase(std::move(o)) { take(o); }
    MappedArray& operator=(MappedArray&& o) noexcept {
        if (this != &o) {
            unmap();
            MapBase::operator=(std::move(o));
            take(o);
        }
        return *this;
    }
    ~MappedArray() { unmap(); }

    // The value at index as the kernel has it now; zeroes when out of range.
    V get(uint32_t index) const {
        V v{};
        if (bpf_map_lookup_elem(fd(), &index, &v) != 0) return V{};
        return v;
    }
    // Visits the indexes in [0, end) that want() accepts: f(index, value).
    // One syscall per 1024 indexes.
    template <class Want, class F>
    void for_each(uint32_t end, Want&& want, F&& f) const {
        const uint32_t chunk = 1024;
        std::vector<uint32_t> keys(chunk);
        std::vector<V> vals(chunk);
        uint32_t in = 0, out = 0;
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        for (bool first = true; end;) {
            uint32_t count = chunk;
            int r = bpf_map_lookup_batch(fd(), first ? nullptr : &in, &out, keys.data(), vals.data(), &count, &opts);
            int err = r ? errno : 0;
            if (err && err != ENOENT) {
                if (first)  // no batches here: one by one
                    for (uint32_t i = 0; i < end; ++i)
                        if (want(i)) f(i, get(i));
                return;
            }
            for (uint32_t i = 0; i < count && keys[i] < end; ++i)
                if (want(keys[i])) f(keys[i], vals[i]);
            if (err == ENOENT || count == 0 || keys[count - 1] + 1 >= end) return;
            in = out;
            first = false;
        }
    }
    // The value in place, for atomic loads and stores of single fields;
    // nullptr when out of range or the map cannot be mapped.
    V* at(uint32_t index) {
        if (!base_) map();
        return index < entries_ && base_ ? reinterpret_cast<V*>(static_cast<char*>(base_) + size_t{index} * stride_)
                                         : nullptr;
    }
    Status zero(uint32_t index) {
        V v{};
        if (bpf_map_update_elem(fd(), &index, &v, BPF_ANY) != 0)
            return sys_error("reset of map " + name_ + " entry " + std::to_string(index));
        return ok_status();
    }

private:
    void map() {
        bpf_map_info info;
        std::memset(&info, 0, sizeof info);
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd(), &info, &len) != 0 || info.value_size != sizeof(V)) return;
        stride_ = (sizeof(V) + 7) & ~size_t{7};
        size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        len_ = (size_t{info.max_entries} * stride_ + page - 1) / page * page;
        void* p = ::mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_SHARED, fd(), 0);
        if (p == MAP_FAILED) return;
        base_ = p;
        entries_ = info.max_entries;
    }
    void unmap() {
        if (base_) ::munmap(base_, len_);
        base_ = nullptr;
        entries_ = 0;
    }
    void take(MappedArray& o) {
        base_ = o.base_;
        len_ = o.len_;
        stride_ = o.stride_;
        entries_ = o.entries_;
        o.base_ = nullptr;
        o.entries_ = 0;
    }
    void* base_ = nullptr;
    size_t len_ = 0, stride_ = sizeof(V);
    uint32_t entries_ = 0;
};

}  // namespace hl
