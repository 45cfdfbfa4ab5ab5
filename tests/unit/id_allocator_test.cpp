// hl::IdAllocator: small ids for the per-CPU counter arrays and map keys.
#include <gtest/gtest.h>

#include <set>

#include "datapath/id_allocator.h"

namespace {

using hl::IdAllocator;

TEST(IdAllocator, ZeroIsNeverHandedOut) {
    IdAllocator a(8);
    std::set<uint32_t> seen;
    while (auto id = a.allocate()) {
        EXPECT_NE(*id, 0u);
        EXPECT_LT(*id, 8u);
        EXPECT_TRUE(seen.insert(*id).second) << "id " << *id << " handed out twice";
    }
    EXPECT_EQ(seen.size(), 7u);  // 1..7
    EXPECT_EQ(a.in_use(), 7u);
}

TEST(IdAllocator, ZeroCannotBeClaimedOrReleased) {
    IdAllocator a(4);
    EXPECT_FALSE(a.claim(0));
    a.release(0);  // must not free the reserved id
    std::set<uint32_t> seen;
    while (auto id = a.allocate()) seen.insert(*id);
    EXPECT_EQ(seen, (std::set<uint32_t>{1, 2, 3}));
}

TEST(IdAllocator, ExhaustionReturnsNulloptUntilARelease) {
    IdAllocator a(4);
    ASSERT_EQ(a.allocate(), 1u);
    ASSERT_EQ(a.allocate(), 2u);
    ASSERT_EQ(a.allocate(), 3u);
    EXPECT_FALSE(a.allocate().has_value());
    EXPECT_FALSE(a.allocate().has_value());
    a.release(2);
    EXPECT_EQ(a.in_use(), 2u);
    EXPECT_EQ(a.allocate(), 2u);
    EXPECT_FALSE(a.allocate().has_value());
}

TEST(IdAllocator, EmptyAndTinyCapacities) {
    IdAllocator none(0);
    EXPECT_FALSE(none.allocate().has_value());
    EXPECT_FALSE(none.claim(0));
    IdAllocator only_zero(1);
    EXPECT_FALSE(only_zero.allocate().has_value());
}

TEST(IdAllocator, ReleasedIdIsNotImmediatelyReused) {
    IdAllocator a(16);
    ASSERT_EQ(a.allocate(), 1u);
    ASSERT_EQ(a.allocate(), 2u);
    ASSERT_EQ(a.allocate(), 3u);
    a.release(2);
    // Next-fit: 2 is free but a reader may still hold it; the allocator moves on.
    EXPECT_EQ(a.allocate(), 4u);
    a.release(4);
    EXPECT_EQ(a.allocate(), 5u);
}

TEST(IdAllocator, ReleasedIdComesBackOnlyAfterWrappingRound) {
    IdAllocator a(5);  // ids 1..4
    for (uint32_t want = 1; want <= 4; ++want) ASSERT_EQ(a.allocate(), want);
    a.release(2);
    a.release(3);
    // From the end of the range the search wraps round and finds the oldest gap.
    EXPECT_EQ(a.allocate(), 2u);
    EXPECT_EQ(a.allocate(), 3u);
    EXPECT_FALSE(a.allocate().has_value());
}

TEST(IdAllocator, ClaimMarksAdoptedIdsTaken) {
    IdAllocator a(16);
    EXPECT_TRUE(a.claim(3));
    EXPECT_TRUE(a.claim(7));
    EXPECT_FALSE(a.claim(7)) << "an id cannot be claimed twice";
    EXPECT_FALSE(a.claim(16)) << "out of range";
    EXPECT_EQ(a.in_use(), 2u);
    // New ids come after the highest adopted one, never one of the adopted.
    auto id = a.allocate();
    ASSERT_TRUE(id);
    EXPECT_EQ(*id, 8u);
    std::set<uint32_t> seen{3, 7, 8};
    while (auto next = a.allocate()) EXPECT_TRUE(seen.insert(*next).second) << *next;
    EXPECT_EQ(seen.size(), 15u);
}

TEST(IdAllocator, ReleaseIsIdempotentAndBoundsChecked) {
    IdAllocator a(4);
    ASSERT_EQ(a.allocate(), 1u);
    a.release(1);
    a.release(1);
    a.release(99);
    EXPECT_EQ(a.in_use(), 0u);
    EXPECT_EQ(a.capacity(), 4u);
}

}  // namespace
