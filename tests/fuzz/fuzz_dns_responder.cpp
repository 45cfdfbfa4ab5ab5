// libFuzzer target: hl::dns::Responder on raw packets (outside input: any
// datagram or TCP message a task, or anyone who reaches dns.listen, sends).
//
// It must never crash, leak or hit undefined behaviour (ASan + UBSan watch),
// whatever the bytes, over UDP and TCP, with and without upstreams. Beyond
// that, the promises the server relies on; a broken one aborts:
//   - a Reply parses back with ldns, is a response (QR) with the query's id;
//   - a UDP reply fits the client's size (512, or its EDNS size);
//   - Forward only for a query ldns reads, and only with upstreams;
//   - Drop only for a packet without a header or one that is a response.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "dns/ldns_handles.h"
#include "dns/responder.h"

namespace {

using namespace hl::dns;

// A fixed directory: names of one and several services, both families, two
// protocols, and a long one whose answers need truncation.
class FixedDirectory final : public Directory {
public:
    FixedDirectory() {
        add("default", "web", "127.255.0.1", 80, hl::Protocol::Tcp);
        add("default", "dns", "127.255.0.2", 53, hl::Protocol::Udp);
        add("default", "dns", "127.255.0.2", 53, hl::Protocol::Tcp);
        add("default", "v6", "fd00::80", 8080, hl::Protocol::Tcp);
        add("team.b", "api.v1", "127.255.0.3", 443, hl::Protocol::Tcp);
        for (int i = 0; i < 60; ++i)
            add("default", "big", ("127.255.1." + std::to_string(i)).c_str(), static_cast<uint16_t>(1000 + i),
                hl::Protocol::Udp);
    }
    std::vector<DnsService> find(std::string_view ns, std::string_view name) const override {
        auto it = services_.find({std::string(ns), std::string(name)});
        return it == services_.end() ? std::vector<DnsService>{} : it->second;
    }
    bool has_namespace(std::string_view ns) const override {
        for (const auto& [k, v] : services_)
            if (k.first == ns) return true;
        return false;
    }

private:
    void add(const char* ns, const char* name, const char* vip, uint16_t port, hl::Protocol p) {
        services_[{ns, name}].push_back(DnsService{*hl::IpAddress::parse(vip), port, p});
    }
    std::map<std::pair<std::string, std::string>, std::vector<DnsService>> services_;
};

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "fuzz_dns_responder: %s\n", what);
    std::abort();
}

// The client's UDP limit as the responder must compute it.
size_t udp_limit(const ldns_pkt* q) {
    if (!ldns_pkt_edns(q)) return 512;
    return ldns_pkt_edns_udp_size(q) < 512 ? 512 : ldns_pkt_edns_udp_size(q);
}

void check(const Responder& r, std::span<const uint8_t> in, Transport t, bool upstreams) {
    Decision d = r.respond(in, t);
    bool header = in.size() >= 12 && !(in[2] & 0x80);
    ldns_pkt* raw = nullptr;
    PktPtr q(header && ldns_wire2pkt(&raw, in.data(), in.size()) == LDNS_STATUS_OK ? raw : nullptr);
    switch (d.action) {
        case Decision::Action::Drop:
            if (header) broken("dropped a packet with a query header");
            return;
        case Decision::Action::Forward:
            if (!q || !upstreams) broken("forwarded an unreadable query, or without upstreams");
            if (r.servfail(in).empty()) broken("no SERVFAIL for a forwarded query");
            return;
        case Decision::Action::Reply:
            break;
    }
    if (!header) broken("replied to a packet without a query header");
    ldns_pkt* rp = nullptr;
    if (ldns_wire2pkt(&rp, d.reply.data(), d.reply.size()) != LDNS_STATUS_OK) broken("the reply does not parse");
    PktPtr reply(rp);
    if (!ldns_pkt_qr(reply.get())) broken("the reply is not a response");
    if (ldns_pkt_id(reply.get()) != (in[0] << 8 | in[1])) broken("the reply's id is not the query's");
    if ((d.rcode & 0xf) != ldns_pkt_get_rcode(reply.get())) broken("Decision::rcode is not the reply's");
    size_t limit = t == Transport::Tcp ? 65535 : (q ? udp_limit(q.get()) : 512);
    if (d.reply.size() > limit) broken("the reply exceeds the client's size");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const FixedDirectory dir;
    static const Responder* plain = [] {
        static hl::DnsConfig c;
        c.vip = *hl::IpAddress::parse("127.255.255.254");
        return new Responder(c, dir);
    }();
    static const Responder* forwarding = [] {
        static hl::DnsConfig c;
        c.vip = *hl::IpAddress::parse("fd00::53");
        c.zone = "Svc.Example";
        c.upstreams = {*hl::SocketAddress::parse("127.0.0.53:53")};
        return new Responder(c, dir);
    }();
    std::span<const uint8_t> in(data, size);
    check(*plain, in, Transport::Udp, false);
    check(*plain, in, Transport::Tcp, false);
    check(*forwarding, in, Transport::Udp, true);
    return 0;
}
