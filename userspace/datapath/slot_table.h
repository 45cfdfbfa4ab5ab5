// A service's selection table: which backend each slot names. Backends appear
// in proportion to their weight, interleaved (smooth weighted round robin), so
// round_robin over the table is weighted round robin and a random slot is a
// weighted random pick. Only active backends with weight > 0 take slots.
#pragma once

#include <cstdint>
#include <vector>

#include "model/service.h"

namespace hl {

// Returns indexes into `backends`, one per slot; empty when none is usable.
// At most max_slots slots: larger weight sums are scaled down, keeping every
// usable backend at least one slot.
std::vector<uint32_t> build_slot_table(const std::vector<Backend>& backends, uint32_t max_slots);

}  // namespace hl
