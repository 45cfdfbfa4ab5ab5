#include "control/client.h"

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstring>

namespace hl::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

namespace {

Error cannot_reach(const std::string& path, const boost::system::error_code& ec) {
    std::string why = ec.category() == boost::system::system_category() ? std::strerror(ec.value()) : ec.message();
    std::string hint = ec == asio::error::access_denied ? "the control socket is root's: run as root"
                                                        : "is hoplessd running?";
    return Error{"cannot reach hoplessd at " + path + ": " + why + " (" + hint + ")", 0};
}

}  // namespace

Result<ClientReply> Client::call(std::string_view method, const std::string& target,
                                 const std::optional<nlohmann::json>& body) const {
    http::verb verb = http::string_to_verb(beast::string_view(method.data(), method.size()));
    if (verb == http::verb::unknown) return Error{"unknown HTTP method '" + std::string(method) + "'", 0};
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "localhost");
    req.set(http::field::user_agent, "hopless/0.1.0");
    if (body) {
        req.set(http::field::content_type, "application/json");
        req.body() = body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    req.keep_alive(false);
    req.prepare_payload();

    asio::io_context io;
    local::socket sock(io);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);  // the daemon's whole state may be large; it is trusted
    std::optional<Error> err;
    bool done = false;
    beast::error_code write_ec;
    sock.async_connect(local::endpoint(path_), [&](const boost::system::error_code& ec) {
        if (ec) {
            err = cannot_reach(path_, ec);
            return;
        }
        http::async_write(sock, req, [&](beast::error_code ec, size_t) {
            // A daemon that refuses a request (413) closes before taking all
            // of it; its answer is still there to read.
            write_ec = ec;
            http::async_read(sock, buf, parser, [&](beast::error_code ec, size_t) {
                if (!ec) {
                    done = true;
                    return;
                }
                if (write_ec) err = Error{"sending to hoplessd at " + path_ + ": " + write_ec.message(), 0};
                else if (ec == http::error::end_of_stream || ec == http::error::partial_message)
                    err = Error{"hoplessd at " + path_ + " closed the connection without a whole answer", 0};
                else err = Error{"reading hoplessd's answer at " + path_ + ": " + ec.message(), 0};
            });
        });
    });
    io.run_for(timeout_);
    if (err) return *err;
    if (!done) {
        auto ms = timeout_.count();
        std::string in = ms % 1000 ? std::to_string(ms) + " ms" : std::to_string(ms / 1000) + " s";
        return Error{"hoplessd at " + path_ + " did not answer within " + in, 0};
    }
    ClientReply reply;
    reply.status = parser.get().result_int();
    const std::string& text = parser.get().body();
    bool blank = text.find_first_not_of(" \t\r\n") == std::string::npos;
    reply.body = blank ? nlohmann::json::object() : nlohmann::json::parse(text, nullptr, false);
    if (reply.body.is_discarded())
        return Error{"hoplessd answered HTTP " + std::to_string(reply.status) + " with a body that is not JSON", 0};
    return reply;
}

std::string error_text(const ClientReply& r) {
    if (r.body.is_object() && r.body.contains("error") && r.body["error"].is_string())
        return r.body["error"].get<std::string>();
    return "hoplessd answered HTTP " + std::to_string(r.status);
}

}  // namespace hl::control
