// Typed handle on one BPF map. Owns its fd; keys and values are the ABI
// structs of include/hopless/abi.h, so no void* crosses this boundary.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>

#include <unistd.h>

#include <cerrno>
#include <algorithm>
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

// Where a walk of a map in steps stands (Map::for_each_step): the kernel's
// resume token of its batches, or the last key where a kernel has no
// batches. A walk in steps lets a reader on an event loop read a big map a
// batch at a time, with other work between the batches.
struct MapCursor {
    alignas(8) unsigned char token[32] = {};
    bool started = false;
    bool done = false;
    bool keywise = false;  // no batches here: `token` holds the last key visited
};

template <class K, class V>
class Map : public MapBase {
public:
    using MapBase::MapBase;
    static_assert(sizeof(K) <= sizeof(MapCursor::token), "a key fits a cursor");

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
        MapCursor c;
        while (!c.done) for_each_step(c, 1024, f);
    }
    // One step of a walk: about `chunk` entries from where the cursor
    // stands (more when one hash bucket holds more); sets c.done at the end.
    // A map that changes between steps is walked as a key walk would be:
    // what was read stands, an entry added or removed meanwhile may or may
    // not be seen.
    template <class F>
    void for_each_step(MapCursor& c, uint32_t chunk, F&& f) const {
        if (c.done) return;
        if (!c.keywise) {
            if (step_batched(c, chunk, f)) return;
            c.keywise = true;  // unsupported at the first call: key by key from the start
        }
        K next{};
        for (uint32_t n = 0; n < chunk; ++n) {
            if (bpf_map_get_next_key(fd(), c.started ? c.token : nullptr, &next) != 0) {
                c.done = true;
                return;
            }
            V v{};
            if (bpf_map_lookup_elem(fd(), &next, &v) == 0) f(next, v);
            std::memcpy(c.token, &next, sizeof next);
            c.started = true;
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
    bool step_batched(MapCursor& c, uint32_t chunk, F& f) const {
        // The kernel's resume token is a bucket index (hash) or a key (array).
        alignas(8) unsigned char out[sizeof c.token] = {};
        std::vector<K> keys(chunk);
        std::vector<V> vals(chunk);
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        for (;;) {
            uint32_t count = chunk;
            int r = bpf_map_lookup_batch(fd(), c.started ? c.token : nullptr, out, keys.data(), vals.data(), &count,
                                         &opts);
            int err = r ? errno : 0;
            if (err == ENOSPC && chunk < (1u << 20)) {  // one hash bucket holds more than a chunk
                chunk *= 4;
                keys.resize(chunk);
                vals.resize(chunk);
                continue;
            }
            // Unsupported at the first call: walk key by key. Later, the map
            // changed under us: what was read stands, as in a key walk.
            if (err && err != ENOENT) {
                if (!c.started) return false;
                c.done = true;
                return true;
            }
            for (uint32_t i = 0; i < count; ++i) f(keys[i], vals[i]);
            if (err == ENOENT) c.done = true;  // the end
            std::memcpy(c.token, out, sizeof out);
            c.started = true;
            return true;
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
    // Visits every index in [first, end) with its per-CPU values:
    // f(index, const V* values, ncpus). Reads in batches (one syscall per
    // 256 indexes), so a view of 65,536 services does not cost 65,536
    // lookups; falls back to one lookup per index without batches.
    template <class F>
    void for_range(uint32_t first, uint32_t end, F&& f) const {
        if (first >= end) return;
        const size_t ncpu = static_cast<size_t>(possible_cpus());
        const uint32_t chunk = std::min<uint32_t>(256, end - first);
        std::vector<uint32_t> keys(chunk);
        std::vector<V> vals(chunk * ncpu);
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        // An array's resume token is the last index read: the batch starts after it.
        for (uint32_t start = first; start < end;) {
            uint32_t in = start - 1, out = 0;
            uint32_t count = std::min(chunk, end - start);
            int r = bpf_map_lookup_batch(fd(), start ? &in : nullptr, &out, keys.data(), vals.data(), &count, &opts);
            int err = r ? errno : 0;
            if (err && err != ENOENT) {
                if (start == first) break;  // not supported: below, one by one
                return;
            }
            for (uint32_t i = 0; i < count && keys[i] < end; ++i) f(keys[i], &vals[i * ncpu], ncpu);
            if (err == ENOENT || count == 0 || keys[count - 1] + 1 >= end) return;
            start = keys[count - 1] + 1;
        }
        for (uint32_t i = first; i < end; ++i) {
            auto v = lookup(i);
            if (!v.empty()) f(i, v.data(), v.size());
        }
    }
    // The indexes in [0, end) that `want` accepts.
    template <class Want, class F>
    void for_each(uint32_t end, Want&& want, F&& f) const {
        for_range(0, end, [&](uint32_t i, const V* v, size_t n) {
            if (want(i)) f(i, v, n);
        });
    }
    Status reset(uint32_t index) {
        std::vector<V> zeros(static_cast<size_t>(possible_cpus()));
        if (bpf_map_update_elem(fd(), &index, zeros.data(), BPF_ANY) != 0)
            return sys_error("reset of map " + name_ + " entry " + std::to_string(index));
        return ok_status();
    }
};

// An ARRAY map shared by every CPU, which the datapath changes in place
// with atomic operations (hl_belive_v1, hl_belc_v1). Reads go through the
// syscall, in batches for many indexes: the daemon never maps the whole
// array, whose every page would count in its resident memory (the kernel
// maps all of a BPF array's pages at mmap time). A write of one field that
// must not undo the kernel's concurrent change of another (a map update
// writes the whole value) maps only the page that holds the entry, stores,
// and unmaps it (the map must be BPF_F_MMAPABLE).
template <class V>
class SharedArray : public MapBase {
public:
    using MapBase::MapBase;

    // The value at index as the kernel has it now; zeroes when out of range.
    V get(uint32_t index) const {
        V v{};
        if (bpf_map_lookup_elem(fd(), &index, &v) != 0) return V{};
        return v;
    }
    // Visits every index in [first, end): f(index, value). One syscall per
    // 1024 indexes; one lookup per index where the kernel has no batches.
    template <class F>
    void for_range(uint32_t first, uint32_t end, F&& f) const {
        if (first >= end) return;
        const uint32_t chunk = std::min<uint32_t>(1024, end - first);
        std::vector<uint32_t> keys(chunk);
        std::vector<V> vals(chunk);
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        for (uint32_t start = first; start < end;) {
            uint32_t in = start - 1, out = 0;
            uint32_t count = std::min(chunk, end - start);
            int r = bpf_map_lookup_batch(fd(), start ? &in : nullptr, &out, keys.data(), vals.data(), &count, &opts);
            int err = r ? errno : 0;
            if (err && err != ENOENT) {
                if (start == first) break;  // no batches here: one by one
                return;
            }
            for (uint32_t i = 0; i < count && keys[i] < end; ++i) f(keys[i], vals[i]);
            if (err == ENOENT || count == 0 || keys[count - 1] + 1 >= end) return;
            start = keys[count - 1] + 1;
        }
        for (uint32_t i = first; i < end; ++i) f(i, get(i));
    }
    // The indexes in [0, end) that want() accepts.
    template <class Want, class F>
    void for_each(uint32_t end, Want&& want, F&& f) const {
        for_range(0, end, [&](uint32_t i, const V& v) {
            if (want(i)) f(i, v);
        });
    }
    // f(V&) on the entry in place, for atomic loads and stores of single
    // fields; the page holding it is mapped for the call only.
    template <class F>
    Status modify_in_place(uint32_t index, F&& f) {
        bpf_map_info info;
        std::memset(&info, 0, sizeof info);
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd(), &info, &len) != 0) return sys_error("map " + name_ + ": info");
        if (info.value_size != sizeof(V) || info.type != BPF_MAP_TYPE_ARRAY)
            return Error{"map " + name_ + " is not an ARRAY of " + std::to_string(sizeof(V)) + "-byte values", 0};
        if (!(info.map_flags & BPF_F_MMAPABLE))
            return Error{"map " + name_ + " is not mmapable: a field cannot be changed alone", 0};
        if (index >= info.max_entries)
            return Error{"map " + name_ + ": index " + std::to_string(index) + " out of range", 0};
        const size_t stride = (sizeof(V) + 7) & ~size_t{7};  // the kernel's elem_size
        const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        const size_t at = size_t{index} * stride, first = at / page * page;
        const size_t span = (at + stride - first + page - 1) / page * page;
        void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_SHARED, fd(), static_cast<off_t>(first));
        if (p == MAP_FAILED) return sys_error("map " + name_ + ": mmap of the page of entry " + std::to_string(index));
        f(*reinterpret_cast<V*>(static_cast<char*>(p) + (at - first)));
        ::munmap(p, span);
        return ok_status();
    }
    Status zero(uint32_t index) {
        V v{};
        if (bpf_map_update_elem(fd(), &index, &v, BPF_ANY) != 0)
            return sys_error("reset of map " + name_ + " entry " + std::to_string(index));
        return ok_status();
    }
};

}  // namespace hl
