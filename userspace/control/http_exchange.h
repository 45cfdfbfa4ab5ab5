// One HTTP exchange of the control API, apart from any socket: the parser
// with its limits, a parsed request -> the response, a parser's error ->
// the response that refuses it. The server and the fuzzer share these, so
// the fuzzer runs what the daemon runs.
#pragma once

#include <sys/types.h>

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <functional>
#include <optional>

#include "control/handler.h"

namespace hl::control {

namespace http = boost::beast::http;

// A request line and headers beyond this get 431; a body beyond this, 413.
inline constexpr size_t kHeaderLimit = 8 * 1024;
inline constexpr size_t kBodyLimit = 1024 * 1024;

using RequestParser = http::request_parser<http::string_body>;
using HttpResponse = http::response<http::string_body>;

// A fresh parser for the next request on a connection, with the limits set.
void set_limits(RequestParser& p);

// The answer to a whole request from peer `uid` (route() plus HTTP: JSON
// body, Allow on 405, keep-alive as the request asked).
HttpResponse respond(const http::request<http::string_body>& req, std::optional<uid_t> uid, Handler& h);
// The same for a Handler that may answer later (the daemon's, when a service
// definition goes to etcd): `done` gets the response, once.
void respond(const http::request<http::string_body>& req, std::optional<uid_t> uid, Handler& h,
             std::function<void(HttpResponse)> done);

// The answer to a request the parser refused: 413 (body), 431 (headers),
// 400 (malformed), each closing the connection; nullopt when there is no
// one to answer (end of stream, reset, cancelled).
std::optional<HttpResponse> refuse(const boost::beast::error_code& ec);

// A response that says `reply` (status and JSON body); closes the
// connection unless keep_alive.
HttpResponse make_response(const Reply& reply, unsigned version, bool keep_alive);

}  // namespace hl::control
