// Events the daemon decides (a backend ejected or restored by its health
// verdicts) into the datapath's trace ring, hl_trace_v1: the object's
// SEC("syscall") program hl_trace_health, run with BPF_PROG_TEST_RUN with the
// event as its context, applies the datapath's own rule (hl_tracectl_v1:
// nothing is written unless someone traces the service) and stamps it with
// the kernel's clock, so a tracer sees it in order with the kernel's events.
// One bpf() call per verdict, and verdicts are rare.
#pragma once

#include "common/error.h"
#include "common/unique_fd.h"
#include "hopless/abi.h"

namespace hl {

class TraceWriter {
public:
    explicit TraceWriter(UniqueFd prog) : prog_(std::move(prog)) {}

    // Hands the event to the program. true: a tracer got it; false: nobody
    // traces its service (or the tracer is behind and it was lost).
    Result<bool> write(const hl_trace_event& ev);

private:
    UniqueFd prog_;
};

}  // namespace hl
