// Ends sockets that hopless redirected to backends that left their service
// (or drained past drain_timeout), with the iterators of bpf/destroy.bpf.c.
// Socket iterators see one network namespace, the caller's; tasks live in
// namespaces of their own, so the terminator visits the namespace of every
// process in the attached cgroups (and the host's).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

struct hopless_destroy;
struct bpf_link;

namespace hl {

struct Doomed {
    uint32_t backend_id;
    uint32_t service_id;
};

class SocketTerminator {
public:
    // Loads the iterators over the maps pinned under pin_dir (kernel >= 6.5
    // for bpf_sock_destroy; the error says so on older kernels).
    static Result<std::unique_ptr<SocketTerminator>> load(const std::string& pin_dir);
    ~SocketTerminator();
    SocketTerminator(const SocketTerminator&) = delete;
    SocketTerminator& operator=(const SocketTerminator&) = delete;

    // Destroys the redirected sockets of these backends in the host's network
    // namespace and in that of every task in the given cgroups (and below).
    // Returns how many sockets were destroyed.
    Result<uint64_t> terminate(const std::vector<Doomed>& doomed, const std::vector<std::string>& cgroup_paths);

private:
    SocketTerminator() = default;
    Status run_iterators() const;
    uint64_t destroyed_count(const std::vector<Doomed>& doomed) const;
    hopless_destroy* skel_ = nullptr;
    bpf_link* tcp_ = nullptr;
    bpf_link* udp_ = nullptr;
};

}  // namespace hl
