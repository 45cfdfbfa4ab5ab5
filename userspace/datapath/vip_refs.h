// How many services use each VIP of the pool, so that allocating a VIP
// walks no service: a pool address is free at 0.
//
// Only addresses inside the pool are counted (an explicit VIP elsewhere is
// never allocated, so it needs no count), and a pool of up to 2^20
// addresses (a v4 /12, a v6 /108) is counted in a dense array: 4 bytes an
// address, against ~56 bytes a VIP as a tree node (3.7 MB at 65,536
// services). A larger pool is counted sparsely.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "model/address.h"

namespace hl {

class VipRefs {
public:
    // Starts over for `pool` (all counts 0).
    void reset(const IpPrefix& pool);
    bool same_pool(const IpPrefix& pool) const { return pool_ && pool_->base == pool.base && pool_->length == pool.length; }
    void add(const IpAddress& a, int delta);
    uint32_t count(const IpAddress& a) const;

private:
    std::optional<uint64_t> index(const IpAddress& a) const;

    std::optional<IpPrefix> pool_;
    std::vector<uint32_t> dense_;
    std::map<IpAddress, uint32_t> sparse_;
};

}  // namespace hl
