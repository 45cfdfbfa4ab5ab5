// The datapath's live per-backend figures (ARRAY hl_belive_v1, backend id ->
// struct hl_backend_live): active connections and connect failures in a
// row, kept by the sockops program. hoplessd reads them, and sets a
// backend's failure count to 0 when outlier detection ejects it.
//
// The BPF side updates both fields atomically, in place. A write of the
// whole value from userspace (bpf_map_update_elem) would race with it and
// could lose an `active` increment for good; so when the map is mmapable
// (BPF_F_MMAPABLE) the one field is stored atomically through the mapping,
// and only otherwise the value is read and written back whole (the race is
// then narrow, and logged once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"
#include "hopless/abi.h"

namespace hl {

class BackendLive {
public:
    static Result<std::unique_ptr<BackendLive>> open(UniqueFd map_fd, std::string name);
    ~BackendLive();
    BackendLive(const BackendLive&) = delete;
    BackendLive& operator=(const BackendLive&) = delete;

    std::optional<hl_backend_live> read(uint32_t backend_id) const;
    Status reset_failures(uint32_t backend_id);
    bool mapped() const { return mem_ != nullptr; }

private:
    BackendLive() = default;
    UniqueFd fd_;
    std::string name_;
    uint32_t max_entries_ = 0;
    hl_backend_live* mem_ = nullptr;
    size_t len_ = 0;
    bool warned_ = false;
};

}  // namespace hl
