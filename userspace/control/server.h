// The control API's server: HTTP/1.1 over a Unix stream socket, on the
// daemon's io_context (no threads of its own). Only root may talk to it:
// the socket file is 0600 and owned by root, and every request's peer
// (SO_PEERCRED) is checked by route() too.
//
// Robustness: headers up to 8 KiB (else 431), bodies up to 1 MiB (else 413),
// malformed HTTP gets 400 and the connection closes; a connection that has
// not sent a whole request within read_timeout is closed (slow or
// half-open clients), as is one that does not take its response within
// write_timeout; at most max_connections at once, more are answered 503 and
// closed at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "common/error.h"
#include "control/handler.h"

namespace boost::asio {
class io_context;
}

namespace hl::control {

class ControlServer {
public:
    struct Limits {
        size_t max_connections = 64;
        std::chrono::milliseconds read_timeout{10'000};
        std::chrono::milliseconds write_timeout{30'000};
    };

    // Creates the socket's parent directory (0755) when missing, replaces a
    // stale socket file (one nobody listens on), refuses a live one or a
    // file that is not a socket.
    static Result<std::unique_ptr<ControlServer>> start(boost::asio::io_context& io, std::string socket_path,
                                                        Handler& handler, Limits limits);
    static Result<std::unique_ptr<ControlServer>> start(boost::asio::io_context& io, std::string socket_path,
                                                        Handler& handler) {
        return start(io, std::move(socket_path), handler, Limits{});
    }

    // Closes every connection and removes the socket file (if it is still
    // the one this server made). The Handler is never called after this.
    // Destroy the server on the io_context's thread, before the io_context.
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    const std::string& path() const { return path_; }
    size_t connections() const;

    struct State;  // shared with the connections' handlers (server.cpp)

private:
    ControlServer(std::string path, std::shared_ptr<State> state);
    std::string path_;
    std::shared_ptr<State> state_;
};

}  // namespace hl::control
