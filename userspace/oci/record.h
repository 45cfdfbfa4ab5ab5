// What poststart did for a container, kept in a file until poststop undoes
// it: at poststop the process is gone (no /proc/PID, its cgroup removed), so
// the hook cannot find its cgroup or address again. One JSON file per
// container: <dir>/<container-id>.json, written whole (temp file + rename).
// The dir is /run/hopless/oci, or $HOPLESS_OCI_STATE_DIR.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "model/address.h"

namespace hl::oci {

struct RecordedEndpoint {
    std::string ns;
    std::string service;
    std::string id;
    IpAddress address;
    uint16_t port = 0;
    bool operator==(const RecordedEndpoint&) const = default;
};

struct HookRecord {
    std::string container_id;
    std::optional<std::string> cgroup;  // attached cgroup (absolute path)
    uint64_t cgroup_id = 0;             // its id, for reading the datapath maps after it is gone
    std::string cgroup_ns;              // the namespace it was attached to
    std::vector<RecordedEndpoint> endpoints;

    bool empty() const { return !cgroup && endpoints.empty(); }
    bool operator==(const HookRecord&) const = default;
};

nlohmann::json record_to_json(const HookRecord& r);
Result<HookRecord> parse_record(std::string_view text);

std::string default_record_dir();

class RecordStore {
public:
    explicit RecordStore(std::string dir) : dir_(std::move(dir)) {}
    const std::string& dir() const { return dir_; }
    std::string path(std::string_view container_id) const;
    // Creates the dir (0700) when missing; replaces the file atomically.
    Status save(const HookRecord& r) const;
    // nullopt: no record (the container was never attached by the hook).
    Result<std::optional<HookRecord>> load(std::string_view container_id) const;
    Status remove(std::string_view container_id) const;

private:
    std::string dir_;
};

}  // namespace hl::oci
