// Attaching the datapath to cgroups, behind an interface so the reconciler's
// unit tests run without root; the kernel implementation uses LinkStore.
#pragma once

#include <cstdint>
#include <string>

#include "bpf/links.h"
#include "common/error.h"

namespace hl {

class CgroupAttacher {
public:
    virtual ~CgroupAttacher() = default;
    struct Resolved {
        std::string path;
        uint64_t id = 0;
    };
    virtual Result<Resolved> resolve(const std::string& path) = 0;
    virtual Status attach(uint64_t id, const std::string& path) = 0;
    virtual Status detach(uint64_t id) = 0;
};

class KernelCgroupAttacher : public CgroupAttacher {
public:
    KernelCgroupAttacher(LinkStore& links, const ProgramSet& progs) : links_(links), progs_(progs) {}
    Result<Resolved> resolve(const std::string& path) override;
    Status attach(uint64_t id, const std::string& path) override { return links_.attach(id, path, progs_); }
    Status detach(uint64_t id) override { return links_.detach(id); }

private:
    LinkStore& links_;
    const ProgramSet& progs_;
};

}  // namespace hl
