#include "control/http_exchange.h"

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>

#include "control/router.h"

namespace hl::control {

void set_limits(RequestParser& p) {
    p.header_limit(kHeaderLimit);
    p.body_limit(kBodyLimit);
}

HttpResponse make_response(const Reply& reply, unsigned version, bool keep_alive) {
    // A status outside HTTP's range is the Handler's bug: say 500, not throw.
    unsigned status = reply.status >= 100 && reply.status <= 599 ? reply.status : 500;
    HttpResponse res{static_cast<http::status>(status), version};
    res.set(http::field::server, "hoplessd");
    res.set(http::field::content_type, "application/json");
    // replace: a reply that carried invalid UTF-8 still goes out as JSON.
    res.body() = reply.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

namespace {
HttpResponse to_response(const Reply& reply, unsigned version, bool keep_alive, const std::string& target) {
    HttpResponse res = make_response(reply, version, keep_alive);
    if (reply.status == 405) res.set(http::field::allow, allowed_methods(target));
    return res;
}
}  // namespace

HttpResponse respond(const http::request<http::string_body>& req, std::optional<uid_t> uid, Handler& h) {
    Request r{std::string(req.method_string()), std::string(req.target()), req.body(), uid};
    return to_response(route(r, h), req.version(), req.keep_alive(), r.target);
}

void respond(const http::request<http::string_body>& req, std::optional<uid_t> uid, Handler& h,
             std::function<void(HttpResponse)> done) {
    Request r{std::string(req.method_string()), std::string(req.target()), req.body(), uid};
    // What the answer needs of the request, copied: it may come after the
    // request is gone.
    route(r, h, [done = std::move(done), version = req.version(), keep_alive = req.keep_alive(),
                 target = r.target](Reply reply) { done(to_response(reply, version, keep_alive, target)); });
}

std::optional<HttpResponse> refuse(const boost::beast::error_code& ec) {
    if (ec == http::error::body_limit)
        return make_response(Reply::error(413, "body: larger than " + std::to_string(kBodyLimit) + " bytes"), 11,
                             false);
    if (ec == http::error::header_limit)
        return make_response(
            Reply::error(431, "request line and headers larger than " + std::to_string(kHeaderLimit) + " bytes"), 11,
            false);
    // A stream that ended, mid-request or not, has no one to answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) return std::nullopt;
    if (ec.category() == http::make_error_code(http::error::bad_target).category())
        return make_response(Reply::error(400, "malformed HTTP request: " + ec.message()), 11, false);
    return std::nullopt;
}

}  // namespace hl::control
