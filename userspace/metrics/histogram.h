// The kernel's fixed log-scale histograms (struct hl_hist, abi.h): bucket
// bounds, differences of two reads, quantiles. Shared by the Prometheus
// collector and `hopless top`.
#pragma once

#include <cstdint>

#include "hopless/abi.h"

namespace hl {

// Upper bound of bucket i in microseconds; +Inf (as infinity) for the last.
double hist_bound_us(int i);
uint64_t hist_count(const hl_hist& h);
// now - before, bucket by bucket (a bucket that went down, as after a reset
// of a reused id, counts 0).
hl_hist hist_delta(const hl_hist& now, const hl_hist& before);
// The q-quantile (0 < q <= 1) in microseconds, interpolated linearly inside
// its bucket as Prometheus' histogram_quantile does; in the +Inf bucket, its
// lower bound. NaN when the histogram is empty.
double hist_quantile_us(const hl_hist& h, double q);

}  // namespace hl
