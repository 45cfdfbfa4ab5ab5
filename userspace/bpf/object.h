// The loaded datapath object (the libbpf skeleton), RAII. Loading reuses the
// maps pinned under pin_dir (libbpf pin-by-name), so a restarted daemon adopts
// the kernel state the last one left; missing maps are created and pinned.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bpf/maps.h"
#include "bpf/programs.h"
#include "common/error.h"

struct hopless;  // the generated skeleton

namespace hl {

struct ObjectOptions {
    std::string pin_dir = "/sys/fs/bpf/hopless";
    uint32_t max_services = HL_DEFAULT_MAX_SERVICES;
    uint32_t max_backends = HL_DEFAULT_MAX_BACKENDS;
};

class DatapathObject {
public:
    static Result<std::unique_ptr<DatapathObject>> load(const ObjectOptions& opts);
    ~DatapathObject();
    DatapathObject(const DatapathObject&) = delete;
    DatapathObject& operator=(const DatapathObject&) = delete;

    // Fresh handles (dup'ed fds) on the object's maps and programs.
    Result<MapSet> maps() const;
    Result<ProgramSet> programs() const;
    // hl_trace_health, the SEC("syscall") program the daemon runs to put its
    // own events into the trace ring (bpf/trace_writer.h). Never attached.
    Result<UniqueFd> trace_program() const;

private:
    DatapathObject() = default;
    hopless* skel_ = nullptr;
};

// Routes libbpf's own log lines to spdlog (once per process).
void route_libbpf_log();

}  // namespace hl
