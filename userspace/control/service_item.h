// A Service as the JSON of one services[] item: what `hopless service
// apply` sends to PUT /v1/services/{ns}/{name} after checking the file
// itself. parse_service_item(service_item_json(s)) == s (a unit test holds
// it to that), so a field added to Service must be added here too.
#pragma once

#include <nlohmann/json.hpp>

#include "model/service.h"

namespace hl::control {

nlohmann::json service_item_json(const Service& s);

}  // namespace hl::control
