#include "datapath/slot_table.h"

#include <algorithm>
#include <numeric>

namespace hl {

std::vector<uint32_t> build_slot_table(const std::vector<Backend>& backends, uint32_t max_slots) {
    std::vector<uint32_t> idx;
    std::vector<uint64_t> w;
    for (uint32_t i = 0; i < backends.size(); ++i) {
        if (backends[i].state != BackendState::Active || backends[i].weight == 0) continue;
        idx.push_back(i);
        w.push_back(backends[i].weight);
    }
    if (idx.empty() || max_slots == 0) return {};
    // Smallest table with exact proportions: divide by the common divisor.
    uint64_t g = 0;
    for (uint64_t x : w) g = std::gcd(g, x);
    uint64_t sum = 0;
    for (auto& x : w) sum += (x /= g);
    if (sum > max_slots) {
        // Scale down by largest remainder; every backend keeps >= 1 slot.
        uint64_t budget = std::max<uint64_t>(max_slots, idx.size());
        std::vector<uint64_t> share(w.size());
        std::vector<std::pair<uint64_t, size_t>> rem;
        uint64_t used = 0;
        for (size_t i = 0; i < w.size(); ++i) {
            uint64_t num = w[i] * budget;
            share[i] = std::max<uint64_t>(1, num / sum);
            used += share[i];
            rem.push_back({num % sum, i});
        }
        std::sort(rem.begin(), rem.end(), [](auto& a, auto& b) { return a.first > b.first; });
        for (size_t k = 0; used < budget && k < rem.size(); ++k, ++used) share[rem[k].second]++;
        // The one-slot floor can overshoot the budget: take the excess back
        // from the largest shares (budget >= backends, so one is above 1).
        for (; used > budget; --used) --*std::max_element(share.begin(), share.end());
        w = share;
        sum = std::accumulate(w.begin(), w.end(), uint64_t{0});
    }
    // Smooth weighted round robin: each step the backend with the largest
    // running credit takes the slot, which spreads heavy backends evenly.
    std::vector<int64_t> credit(w.size(), 0);
    std::vector<uint32_t> table;
    table.reserve(sum);
    for (uint64_t s = 0; s < sum; ++s) {
        size_t best = 0;
        for (size_t i = 0; i < w.size(); ++i) {
            credit[i] += static_cast<int64_t>(w[i]);
            if (credit[i] > credit[best]) best = i;
        }
        credit[best] -= static_cast<int64_t>(sum);
        table.push_back(idx[best]);
    }
    return table;
}

}  // namespace hl
