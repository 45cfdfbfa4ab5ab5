// The control API's client, for the CLI and the OCI hook: one synchronous
// request per call over the Unix socket, bounded by a timeout.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace hl::control {

struct ClientReply {
    unsigned status = 0;
    nlohmann::json body;  // the JSON the daemon answered ({} for an empty body)
    bool ok() const { return status >= 200 && status < 300; }
};

class Client {
public:
    explicit Client(std::string socket_path, std::chrono::milliseconds timeout = std::chrono::seconds(10))
        : path_(std::move(socket_path)), timeout_(timeout) {}

    // METHOD target (origin-form, segments encoded with encode_segment) with
    // an optional JSON body. An HTTP error status is a reply, not an Error;
    // an Error is "could not ask": no daemon, no answer in time, no JSON.
    Result<ClientReply> call(std::string_view method, const std::string& target,
                             const std::optional<nlohmann::json>& body = std::nullopt) const;

    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::chrono::milliseconds timeout_;
};

// What a failed reply says: its {"error": ...}, else "hoplessd answered HTTP N".
std::string error_text(const ClientReply& r);

}  // namespace hl::control
