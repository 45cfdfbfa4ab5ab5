// libFuzzer target: bytes on the control socket. The daemon's parser with
// its limits (set_limits), requests one after another as on a kept-alive
// connection, each through respond() (route() and the body parsers) to a
// fake Handler, or through refuse() when the parser says no; every response
// is serialized. Nothing may crash, leak or hang.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string_view>

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/write.hpp>

#include "../unit/fake_control_handler.h"
#include "control/http_exchange.h"

namespace {

void serialize(const hl::control::HttpResponse& res) {
    std::ostringstream out;
    out << res;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace http = boost::beast::http;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    hlt::FakeControlHandler handler;
    for (int i = 0; i < 16 && !in.empty(); ++i) {
        hl::control::RequestParser p;
        hl::control::set_limits(p);
        p.eager(true);
        boost::beast::error_code ec;
        while (true) {
            size_t n = p.put(boost::asio::buffer(in.data(), in.size()), ec);
            in.remove_prefix(n);
            if (ec != http::error::need_more) break;
            ec = {};
            if (n == 0 || in.empty()) {  // the input ends here: the peer closed
                p.put_eof(ec);
                break;
            }
        }
        if (ec || !p.is_done()) {
            if (auto res = hl::control::refuse(ec)) serialize(*res);
            return 0;  // the server closes the connection here
        }
        auto res = hl::control::respond(p.get(), 0, handler);
        serialize(res);
        if (!res.keep_alive()) return 0;
    }
    return 0;
}
