// hl::build_slot_table: the selection table a service's connects pick from.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>

#include "datapath/slot_table.h"
#include "hopless/abi.h"

namespace {

using hl::Backend;
using hl::BackendState;

Backend be(uint32_t n, uint16_t weight = 1, BackendState state = BackendState::Active) {
    Backend b;
    b.address = hl::IpAddress::v4(0x0A000000u + n);
    b.port = 8080;
    b.weight = weight;
    b.state = state;
    return b;
}

std::map<uint32_t, size_t> counts(const std::vector<uint32_t>& table) {
    std::map<uint32_t, size_t> c;
    for (uint32_t i : table) ++c[i];
    return c;
}

size_t longest_run(const std::vector<uint32_t>& table, uint32_t who) {
    size_t best = 0, run = 0;
    for (uint32_t i : table) {
        run = i == who ? run + 1 : 0;
        best = std::max(best, run);
    }
    return best;
}

TEST(SlotTable, EqualWeightsGiveOneSlotEachInConfigOrder) {
    auto t = hl::build_slot_table({be(1), be(2), be(3)}, 4096);
    EXPECT_EQ(t, (std::vector<uint32_t>{0, 1, 2}));
    // Equal weights other than 1 reduce the same way.
    EXPECT_EQ(hl::build_slot_table({be(1, 7), be(2, 7), be(3, 7)}, 4096), (std::vector<uint32_t>{0, 1, 2}));
}

TEST(SlotTable, NineToOneGivesTenSlotsInterleaved) {
    auto t = hl::build_slot_table({be(1, 9), be(2, 1)}, 4096);
    ASSERT_EQ(t.size(), 10u);
    auto c = counts(t);
    EXPECT_EQ(c[0], 9u);
    EXPECT_EQ(c[1], 1u);
    // Spread, not clustered: the light backend splits the heavy one's run
    // (it is neither the first nor the last slot), so round robin over the
    // table does not send 9 connects in a row to one side then 1 to the other.
    EXPECT_NE(t.front(), 1u);
    EXPECT_NE(t.back(), 1u);
    EXPECT_LE(longest_run(t, 0), 5u);
}

TEST(SlotTable, HeavyBackendIsSpreadAmongSeveralLightOnes) {
    // 4:1:1:1:1 -> 8 slots; the heavy backend never takes three in a row.
    auto t = hl::build_slot_table({be(1, 4), be(2), be(3), be(4), be(5)}, 4096);
    ASSERT_EQ(t.size(), 8u);
    auto c = counts(t);
    EXPECT_EQ(c[0], 4u);
    for (uint32_t i = 1; i <= 4; ++i) EXPECT_EQ(c[i], 1u) << i;
    EXPECT_LE(longest_run(t, 0), 2u);
}

TEST(SlotTable, GcdReducesTheTable) {
    EXPECT_EQ(hl::build_slot_table({be(1, 2), be(2, 2)}, 4096).size(), 2u);
    auto t = hl::build_slot_table({be(1, 300), be(2, 100)}, 4096);
    ASSERT_EQ(t.size(), 4u);
    auto c = counts(t);
    EXPECT_EQ(c[0], 3u);
    EXPECT_EQ(c[1], 1u);
    // Coprime weights cannot be reduced.
    EXPECT_EQ(hl::build_slot_table({be(1, 2), be(2, 3)}, 4096).size(), 5u);
}

TEST(SlotTable, UnusableBackendsGetNoSlot) {
    std::vector<Backend> bs = {be(1, 0), be(2, 1, BackendState::Draining), be(3, 2), be(4, 1, BackendState::Quarantined),
                               be(5, 1)};
    auto t = hl::build_slot_table(bs, 4096);
    auto c = counts(t);
    EXPECT_EQ(c.count(0), 0u) << "weight 0";
    EXPECT_EQ(c.count(1), 0u) << "draining";
    EXPECT_EQ(c.count(3), 0u) << "quarantined";
    // The indexes still point into the full input list.
    EXPECT_EQ(c[2], 2u);
    EXPECT_EQ(c[4], 1u);
    EXPECT_EQ(t.size(), 3u);
}

TEST(SlotTable, NoUsableBackendGivesAnEmptyTable) {
    EXPECT_TRUE(hl::build_slot_table({}, 4096).empty());
    EXPECT_TRUE(hl::build_slot_table({be(1, 0), be(2, 5, BackendState::Draining)}, 4096).empty());
    EXPECT_TRUE(hl::build_slot_table({be(1, 3)}, 0).empty());
}

TEST(SlotTable, SingleBackendWithAnyWeightTakesOneSlot) {
    EXPECT_EQ(hl::build_slot_table({be(1, 65535)}, 4096), (std::vector<uint32_t>{0}));
}

// Weight sums above max_slots are scaled down: the table never exceeds the
// limit, every usable backend keeps a slot, and the proportions hold.
void expect_capped(const std::vector<uint16_t>& weights, uint32_t max_slots) {
    SCOPED_TRACE(::testing::Message() << "max_slots=" << max_slots << " backends=" << weights.size());
    std::vector<Backend> bs;
    for (uint32_t i = 0; i < weights.size(); ++i) bs.push_back(be(i + 1, weights[i]));
    auto t = hl::build_slot_table(bs, max_slots);
    EXPECT_LE(t.size(), std::max<size_t>(max_slots, weights.size()));
    EXPECT_GE(t.size(), std::min<size_t>(max_slots, weights.size()));
    auto c = counts(t);
    const double wsum = std::accumulate(weights.begin(), weights.end(), 0.0);
    for (uint32_t i = 0; i < weights.size(); ++i) {
        EXPECT_GE(c[i], 1u) << "backend " << i << " (weight " << weights[i] << ") lost its slot";
        // Within two slots of its exact share (largest remainder gives one,
        // the one-slot floor may cost the heavy backends one more).
        double ideal = static_cast<double>(weights[i]) / wsum * static_cast<double>(t.size());
        EXPECT_NEAR(static_cast<double>(c[i]), ideal, 2.0) << "backend " << i;
    }
}

TEST(SlotTable, HugeWeightSumIsCappedKeepingEveryBackend) {
    expect_capped({65535, 65534}, HL_MAX_SLOTS_PER_SERVICE);
    expect_capped({65535, 1}, HL_MAX_SLOTS_PER_SERVICE);
    expect_capped({65535, 30000, 7, 1}, HL_MAX_SLOTS_PER_SERVICE);
    expect_capped({65535, 1, 1}, HL_MAX_SLOTS_PER_SERVICE);
    expect_capped({1000, 1, 1}, 10);
    expect_capped({997, 991, 983, 1}, 16);
}

TEST(SlotTable, CappedTableKeepsNineToOneProportion) {
    auto t = hl::build_slot_table({be(1, 9000), be(2, 1001)}, 1000);
    auto c = counts(t);
    ASSERT_LE(t.size(), 1000u);
    // 9000:1001 of 1000 slots is 899.9:100.1.
    EXPECT_NEAR(static_cast<double>(c[0]), 900.0, 1.0);
    EXPECT_NEAR(static_cast<double>(c[1]), 100.0, 1.0);
}

TEST(SlotTable, MoreBackendsThanSlotsStillGivesEachOne) {
    std::vector<Backend> bs;
    for (uint32_t i = 0; i < 20; ++i) bs.push_back(be(i + 1, static_cast<uint16_t>(i + 1)));
    auto t = hl::build_slot_table(bs, 8);
    EXPECT_EQ(t.size(), 20u) << "a backend is never dropped to fit the cap";
    auto c = counts(t);
    for (uint32_t i = 0; i < 20; ++i) EXPECT_EQ(c[i], 1u);
}

}  // namespace
