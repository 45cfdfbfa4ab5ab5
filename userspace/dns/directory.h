// What the DNS responder asks at query time: the services behind a name.
// The daemon implements it over the registry, so an answer reflects the
// registry at the moment of the query (DESIGN.md "Names (DNS)").
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "model/address.h"
#include "model/service.h"

namespace hl::dns {

// One service behind a name. A name may have several: the same name for tcp
// and for udp, with one VIP or two.
struct DnsService {
    IpAddress vip;
    uint16_t port = 0;
    Protocol protocol = Protocol::Tcp;
    bool operator==(const DnsService&) const = default;
};

class Directory {
public:
    virtual ~Directory() = default;
    // The services named `name` in namespace `ns`; empty when there are none.
    // Both come lowercase from the query (DNS names are case-insensitive):
    // an implementation compares them ASCII-case-insensitively with its
    // names. `name` may contain dots (a service named "api.v1").
    // Called on the responder's thread (the daemon's io_context).
    virtual std::vector<DnsService> find(std::string_view ns, std::string_view name) const = 0;
    // Whether `ns` (lowercase, as above) is a namespace that exists: its name
    // <ns>.<zone> then answers NODATA instead of NXDOMAIN.
    virtual bool has_namespace(std::string_view ns) const = 0;
};

}  // namespace hl::dns
