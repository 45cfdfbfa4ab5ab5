// What other hosts wrote to etcd: keys, endpoint values and service
// definitions. The input's first byte picks which parser gets the rest; a key
// that parses must be the key this host would build from its parts, and a
// value that parses must parse back to itself once written.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "discovery/etcd_layout.h"

using namespace hl::etcd_layout;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] % 3 == 2) {
        const ServiceKey key{"default", "web"};
        auto s = parse_service_value(in, key);
        if (!s) return 0;
        auto back = parse_service_value(service_value(*s), key);
        if (!back || !(*back == *s)) abort();
    } else if (data[0] % 3 == 1) {
        auto k = parse_key("/hopless", in);
        if (!k) return 0;
        std::string rebuilt;
        if (auto* s = std::get_if<ServiceKey>(&*k)) rebuilt = service_key("/hopless", s->ns, s->name);
        if (auto* e = std::get_if<EndpointKey>(&*k)) rebuilt = endpoint_key("/hopless", e->ns, e->name, e->host, e->id);
        if (auto* h = std::get_if<HostKey>(&*k)) rebuilt = host_key("/hopless", h->host);
        if (rebuilt != in) abort();
    } else {
        auto v = parse_endpoint_value(in);
        if (!v) return 0;
        auto back = parse_endpoint_value(endpoint_value(*v));
        if (!back || !(*back == *v)) abort();
    }
    return 0;
}
