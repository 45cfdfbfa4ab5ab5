#include "datapath/vip_refs.h"

namespace hl {

namespace {
constexpr int kDenseBits = 20;

// Bits of the address below the prefix (32 - length for v4).
int host_bits(const IpPrefix& p) { return (p.base.is_v4() ? 32 : 128) - p.length; }

// The address's low 64 bits (v4: the address itself).
uint64_t low64(const IpAddress& a) {
    uint64_t v = 0;
    for (int i = 8; i < 16; ++i) v = v << 8 | a.bytes()[i];
    return a.is_v4() ? v & 0xffffffffull : v;
}
}  // namespace

void VipRefs::reset(const IpPrefix& pool) {
    pool_ = pool;
    sparse_.clear();
    dense_.clear();
    if (host_bits(pool) <= kDenseBits) dense_.assign(size_t{1} << host_bits(pool), 0);
    dense_.shrink_to_fit();
}

std::optional<uint64_t> VipRefs::index(const IpAddress& a) const {
    if (!pool_ || !pool_->contains(a)) return std::nullopt;
    const int bits = host_bits(*pool_);
    if (bits > kDenseBits) return std::nullopt;
    return (low64(a) - low64(pool_->base)) & ((uint64_t{1} << bits) - 1);
}

void VipRefs::add(const IpAddress& a, int delta) {
    if (!pool_ || !pool_->contains(a)) return;
    if (auto i = index(a)) {
        dense_[*i] = static_cast<uint32_t>(static_cast<int64_t>(dense_[*i]) + delta);
        return;
    }
    auto& n = sparse_[a];
    n = static_cast<uint32_t>(static_cast<int64_t>(n) + delta);
    if (n == 0) sparse_.erase(a);
}

uint32_t VipRefs::count(const IpAddress& a) const {
    if (auto i = index(a)) return dense_[*i];
    auto it = sparse_.find(a);
    return it == sparse_.end() ? 0 : it->second;
}

}  // namespace hl
