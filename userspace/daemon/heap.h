// glibc keeps what the process frees for its own reuse instead of giving it
// back to the kernel: the peak of a config load (the parsed config next to
// the reconciler's state, validation and apply scratch) would stay resident
// until the daemon exits. After each load the daemon hands the free pages back.
#pragma once

namespace hl {

// malloc_trim(0): every arena, and free pages inside the heap, not only at its top.
void give_back_free_heap();

// Gives the free heap back when the scope ends, on every return path.
class GiveBackFreeHeapOnExit {
public:
    GiveBackFreeHeapOnExit() = default;
    GiveBackFreeHeapOnExit(const GiveBackFreeHeapOnExit&) = delete;
    GiveBackFreeHeapOnExit& operator=(const GiveBackFreeHeapOnExit&) = delete;
    ~GiveBackFreeHeapOnExit() { give_back_free_heap(); }
};

}  // namespace hl
