#include "metrics/histogram.h"

#include <cmath>
#include <limits>

namespace hl {

double hist_bound_us(int i) {
    if (i + 1 >= HL_HIST_BUCKETS) return std::numeric_limits<double>::infinity();
    return static_cast<double>(HL_HIST_BOUND_US(i));
}

uint64_t hist_count(const hl_hist& h) {
    uint64_t n = 0;
    for (auto b : h.bucket) n += b;
    return n;
}

hl_hist hist_delta(const hl_hist& now, const hl_hist& before) {
    hl_hist d{};
    for (int i = 0; i < HL_HIST_BUCKETS; ++i)
        d.bucket[i] = now.bucket[i] >= before.bucket[i] ? now.bucket[i] - before.bucket[i] : 0;
    d.sum_us = now.sum_us >= before.sum_us ? now.sum_us - before.sum_us : 0;
    return d;
}

double hist_quantile_us(const hl_hist& h, double q) {
    uint64_t n = hist_count(h);
    if (n == 0) return NAN;
    double rank = q * static_cast<double>(n);
    uint64_t cum = 0;
    for (int i = 0; i < HL_HIST_BUCKETS; ++i) {
        uint64_t before = cum;
        cum += h.bucket[i];
        if (h.bucket[i] == 0 || static_cast<double>(cum) < rank) continue;
        double lo = i == 0 ? 0 : hist_bound_us(i - 1);
        if (i + 1 == HL_HIST_BUCKETS) return lo;  // +Inf: the lower bound is all we know
        double hi = hist_bound_us(i);
        return lo + (hi - lo) * (rank - static_cast<double>(before)) / static_cast<double>(h.bucket[i]);
    }
    return NAN;
}

}  // namespace hl
