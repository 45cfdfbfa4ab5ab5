// The DNS responder: a query packet in, a decision out (a reply, forward it
// to the upstreams, or drop it). No sockets and no state of its own, so it
// is tested and fuzzed on bytes. The wire format is ldns's.
//
// What it answers, in the zone (DESIGN.md "Names (DNS)"):
//   <service>.<namespace>.<zone>          A (v4 VIPs), AAAA (v6 VIPs)
//   _<service>._<tcp|udp>.<namespace>.<zone>
//                                         SRV 0 0 <port> <service>.<namespace>.<zone>.
//                                         with the target's A/AAAA as additional records
//   <zone>                                SOA, NS (ns.<zone>.)
//   ns.<zone>                             A or AAAA: dns.vip (the NS record's address)
//   <namespace>.<zone>, _<tcp|udp>.<namespace>.<zone>
//                                         exist without records: NODATA
//   any other name in the zone            NXDOMAIN
// NXDOMAIN and NODATA carry the zone's SOA in the authority section; its TTL
// and minimum are kNegativeTtl, so a service created a moment later resolves
// at once. Positive answers have TTL kTtl. Names are case-insensitive; the
// answer keeps the question's spelling.
// Outside the zone: Forward when there are upstreams, else REFUSED.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dns/directory.h"
#include "model/config.h"

namespace hl::dns {

enum class Transport : uint8_t { Udp, Tcp };

struct Decision {
    enum class Action : uint8_t {
        Reply,    // send `reply`
        Forward,  // send the query as it came to the upstreams
        Drop,     // no reply: too short to carry an id, or a response rather than a query
    };
    Action action = Action::Drop;
    std::vector<uint8_t> reply;
    int rcode = 0;  // Reply: the reply's rcode, extended ones included (BADVERS is 16)
};

class Responder {
public:
    static constexpr uint32_t kTtl = 5;          // seconds: positive answers
    static constexpr uint32_t kNegativeTtl = 1;  // seconds: NXDOMAIN and NODATA (SOA TTL and minimum)
    static constexpr uint16_t kUdpDefault = 512;  // a UDP reply's limit without EDNS
    static constexpr uint16_t kEdnsAdvertised = 1232;  // our OPT's UDP size (DNS flag day 2020)

    // Keeps a reference to `directory`, which must outlive the responder.
    Responder(const DnsConfig& config, const Directory& directory);

    // A UDP reply fits the client's EDNS UDP size (512 without EDNS): what
    // does not is left out, additional records first, and when the answer
    // itself does not fit the reply carries the question only, with TC set,
    // and the client asks again over TCP, which gets the whole answer.
    Decision respond(std::span<const uint8_t> query, Transport transport) const;

    // The reply to a query no upstream answered: SERVFAIL, or an empty
    // vector when the query is not one respond() would forward.
    std::vector<uint8_t> servfail(std::span<const uint8_t> query) const;

    const std::string& zone() const { return zone_; }

private:
    std::string zone_;                     // lowercase, no trailing dot
    std::vector<std::string> zone_labels_;
    IpAddress vip_;
    bool recursion_ = false;  // upstreams configured: RA set, outside names forwarded
    const Directory& directory_;

    friend class Answerer;
};

}  // namespace hl::dns
