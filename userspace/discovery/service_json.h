// A Service as a services[] item in JSON: what the control API returns and
// what the journal keeps. parse_service_item() reads it back unchanged.
#pragma once

#include <nlohmann/json.hpp>

#include "model/service.h"

namespace hl {

nlohmann::json service_to_json(const Service& s);
nlohmann::json backend_to_json(const Backend& b);

}  // namespace hl
