// The control API's routes (DESIGN.md "Control API"), without HTTP: a
// request's method, target, body and peer in; a Reply out. Shapes are
// checked here, semantics are the Handler's: a request that fails a check
// gets a 4xx and calls nothing on the Handler.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "control/handler.h"

namespace hl::control {

struct Request {
    std::string method;  // "GET", "PUT", ... as sent (case matters, as in HTTP)
    std::string target;  // origin-form: "/v1/services/default/web"
    std::string body;
    std::optional<uid_t> peer_uid;  // SO_PEERCRED; nullopt (unknown) is refused like non-root
};

//   403 not root; 400 bad path escape, query string, body, field, name;
//   404 no such route; 405 method not allowed (see allowed_methods);
//   else the Handler's Reply (500 when the Handler throws). `done` gets it,
//   at once or, for a Handler that answers later, then.
void route(const Request& req, Handler& h, Done done);
// The same for a Handler that answers at once (tests, the fuzzer); a 500
// when it did not.
Reply route(const Request& req, Handler& h);

// The methods a target's route takes ("PUT, DELETE"), for a 405's Allow
// header; empty when no route matches.
std::string allowed_methods(std::string_view target);

}  // namespace hl::control
