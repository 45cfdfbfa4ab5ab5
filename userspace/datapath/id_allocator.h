// Small integer ids (service, backend, namespace) for the per-CPU counter
// arrays; 0 is never handed out (it means "none"). Next-fit: a released id is
// handed out again only after the allocator has gone round the whole range,
// so an id that a racing reader may still hold (a previous slot table) does
// not name another backend a moment later.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace hl {

class IdAllocator {
public:
    explicit IdAllocator(uint32_t capacity) : used_(capacity, false) {
        if (capacity) used_[0] = true;
    }
    std::optional<uint32_t> allocate() {
        const uint32_t n = static_cast<uint32_t>(used_.size());
        for (uint32_t k = 0; k < n; ++k) {
            uint32_t i = (hint_ + k) % n;
            if (!used_[i]) {
                used_[i] = true;
                hint_ = i + 1;
                ++in_use_;
                return i;
            }
        }
        return std::nullopt;
    }
    // Marks an id found in the kernel as taken (adoption).
    bool claim(uint32_t id) {
        if (id == 0 || id >= used_.size() || used_[id]) return false;
        used_[id] = true;
        ++in_use_;
        if (id >= hint_) hint_ = id + 1;
        return true;
    }
    void release(uint32_t id) {
        if (id == 0 || id >= used_.size()) return;
        if (used_[id]) --in_use_;
        used_[id] = false;
    }
    uint32_t capacity() const { return static_cast<uint32_t>(used_.size()); }
    uint32_t in_use() const { return in_use_; }

private:
    std::vector<bool> used_;
    uint32_t hint_ = 1;
    uint32_t in_use_ = 0;
};

}  // namespace hl
