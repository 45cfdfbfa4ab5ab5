// The datapath's programs as fds with their attach types. The daemon takes
// them from the loaded skeleton and pins them under <pin_dir>/progs, so the
// CLI can attach a cgroup while the daemon is down.
#pragma once

#include <bpf/bpf.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace hl {

struct ProgramSpec {
    const char* name;
    bpf_attach_type attach_type;
};

// Every cgroup program of the object, in attach order.
const std::vector<ProgramSpec>& program_specs();

struct Program {
    std::string name;
    bpf_attach_type attach_type;
    UniqueFd fd;
};

using ProgramSet = std::vector<Program>;

std::string progs_dir(const std::string& pin_dir);
std::string links_dir(const std::string& pin_dir);

Result<ProgramSet> open_pinned_programs(const std::string& pin_dir);
// Replaces the pins under <pin_dir>/progs with these programs.
Status pin_programs(const ProgramSet& progs, const std::string& pin_dir);
// Kernel id of a program or link (from its info), 0 on error.
uint32_t prog_id_of(int prog_fd);

}  // namespace hl
