// Backend health as the control API shows it (GET /v1/health/backends,
// GET /v1/services/{ns}/{name}/health, and `hopless health`): the monitor's
// flag and counts beside the state the kernel holds.
#pragma once

#include <nlohmann/json.hpp>

#include "bpf/map.h"
#include "datapath/reconciler.h"
#include "health/tracker.h"

namespace hl {

// `h` is null for a service without health_check and outlier_detection:
// its backends are healthy, with nothing probed or counted. `live` (may be
// null): the kernel's own failure counts, shown as they are now.
nlohmann::json service_health_json(const Reconciler& reconciler, const Reconciler::ServiceName& name,
                                   const Reconciler::ServiceRec& rec, const health::ServiceHealth* h,
                                   const SharedArray<hl_backend_live>* live);

}  // namespace hl
