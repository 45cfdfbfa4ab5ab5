#include "daemon/heap.h"

#include <malloc.h>

namespace hl {

void give_back_free_heap() { malloc_trim(0); }

void PeriodicHeapTrim::start() {
    timer_.expires_after(every_);
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        give_back_free_heap();
        start();
    });
}

}  // namespace hl
