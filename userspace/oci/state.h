// The OCI runtime's container state, as a hook reads it on stdin
// (runtime-spec "State": ociVersion, id, status, pid, bundle, annotations),
// and the annotations of a bundle's config.json for runtimes whose state
// leaves them out. Outside input: every error names the field.
#pragma once

#include <sys/types.h>

#include <map>
#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace hl::oci {

using Annotations = std::map<std::string, std::string>;

struct ContainerState {
    std::string oci_version;
    std::string id;
    std::string status;                      // creating | created | running | stopped (or a runtime's own)
    std::optional<pid_t> pid;                // absent once the container stopped
    std::string bundle;                      // absolute path of the bundle directory
    std::optional<Annotations> annotations;  // absent: the runtime did not pass them
};

// The state is at most this many bytes: a hook never reads without bound.
inline constexpr size_t kMaxStateBytes = 1 << 20;
inline constexpr size_t kMaxConfigBytes = 4 << 20;

// Reads `in` to its end, failing once more than max_bytes arrived.
Result<std::string> read_bounded(std::istream& in, size_t max_bytes, const std::string& what);

Result<ContainerState> parse_state(std::string_view text);
// The "annotations" object of a bundle's config.json (empty when it has none).
Result<Annotations> parse_bundle_annotations(std::string_view config_json);
Result<Annotations> read_bundle_annotations(const std::string& bundle_dir);

// A container id as runc accepts it (1-1024 of A-Z a-z 0-9 _ + - .), which
// also keeps it safe as a file name and inside an endpoint id.
bool valid_container_id(std::string_view id);

}  // namespace hl::oci
