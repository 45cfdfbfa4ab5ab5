#include "bpf/trace_writer.h"

#include <bpf/bpf.h>

namespace hl {

Result<bool> TraceWriter::write(const hl_trace_event& ev) {
    // The kernel copies the context in; the program only reads it.
    hl_trace_event ctx = ev;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ctx, .ctx_size_in = sizeof ctx);
    if (bpf_prog_test_run_opts(prog_.get(), &opts) != 0) return sys_error("cannot run hl_trace_health");
    return opts.retval == 1;
}

}  // namespace hl
