#include "bpf/map.h"

namespace hl {

int possible_cpus() {
    static const int n = [] {
        int c = libbpf_num_possible_cpus();
        return c > 0 ? c : 1;
    }();
    return n;
}

Result<UniqueFd> MapBase::open_pinned(const std::string& path) {
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return sys_error("cannot open pinned map " + path);
    return UniqueFd(fd);
}

}  // namespace hl
