// The kernel histograms' arithmetic, as `hopless top` and the collector use it.
#include <gtest/gtest.h>

#include <cmath>

#include "metrics/histogram.h"

namespace {

TEST(Histogram, BoundsAreFourTimesApartFromSixteenMicroseconds) {
    EXPECT_EQ(hl::hist_bound_us(0), 16.0);
    EXPECT_EQ(hl::hist_bound_us(1), 64.0);
    EXPECT_EQ(hl::hist_bound_us(3), 1024.0);
    EXPECT_EQ(hl::hist_bound_us(HL_HIST_BUCKETS - 2), 16.0 * std::pow(4.0, HL_HIST_BUCKETS - 2));
    EXPECT_TRUE(std::isinf(hl::hist_bound_us(HL_HIST_BUCKETS - 1)));
}

TEST(Histogram, QuantilesInterpolateInsideTheBucket) {
    hl_hist h{};
    EXPECT_TRUE(std::isnan(hl::hist_quantile_us(h, 0.5)));
    h.bucket[2] = 100;  // (64, 256] us
    EXPECT_DOUBLE_EQ(hl::hist_quantile_us(h, 0.5), 64 + 192 * 0.5);
    EXPECT_DOUBLE_EQ(hl::hist_quantile_us(h, 1.0), 256);
    h.bucket[0] = 100;  // [0, 16] us: now half of all
    EXPECT_DOUBLE_EQ(hl::hist_quantile_us(h, 0.25), 8);
    EXPECT_DOUBLE_EQ(hl::hist_quantile_us(h, 0.75), 64 + 192 * 0.5);
    h.bucket[HL_HIST_BUCKETS - 1] = 1000;  // beyond the last bound: its lower bound
    EXPECT_DOUBLE_EQ(hl::hist_quantile_us(h, 0.99), hl::hist_bound_us(HL_HIST_BUCKETS - 2));
}

TEST(Histogram, DeltaIsPerBucketAndNeverNegative) {
    hl_hist a{}, b{};
    a.bucket[1] = 10;
    a.bucket[4] = 3;
    a.sum_us = 500;
    b.bucket[1] = 4;
    b.bucket[4] = 5;  // went down (an id reused and reset): 0
    b.sum_us = 100;
    auto d = hl::hist_delta(a, b);
    EXPECT_EQ(d.bucket[1], 6u);
    EXPECT_EQ(d.bucket[4], 0u);
    EXPECT_EQ(d.sum_us, 400u);
    EXPECT_EQ(hl::hist_count(d), 6u);
}

}  // namespace
