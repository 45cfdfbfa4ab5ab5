#include "daemon/heap.h"

#include <malloc.h>

namespace hl {

void give_back_free_heap() { malloc_trim(0); }

}  // namespace hl
