#include "dns/responder.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "dns/ldns_handles.h"

namespace hl::dns {

namespace {

constexpr uint8_t kQrBit = 0x80;
constexpr size_t kTcpLimit = 65535;
// A bound on the records of one answer: far more than fits in a reply, and
// it keeps ldns's 16-bit section counts from wrapping whatever a Directory returns.
constexpr size_t kMaxRecords = 4096;

// The labels of a wire-form name, ASCII-lowercased, the root left out.
std::vector<std::string> lowercase_labels(const ldns_rdf* name) {
    std::vector<std::string> out;
    const uint8_t* d = ldns_rdf_data(name);
    size_t size = ldns_rdf_size(name);
    for (size_t pos = 0; pos < size;) {
        size_t len = d[pos];
        if (len == 0 || pos + 1 + len > size) break;
        std::string label(reinterpret_cast<const char*>(d + pos + 1), len);
        for (char& ch : label)
            if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
        out.push_back(std::move(label));
        pos += 1 + len;
    }
    return out;
}

// Only these characters make up service and namespace names (valid_name,
// less the '.', which separates labels here): any other label names nothing.
bool plain_label(const std::string& l) {
    return std::all_of(l.begin(), l.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
    });
}

std::string join(const std::vector<std::string>& labels, size_t from, size_t to) {
    std::string out;
    for (size_t i = from; i < to; ++i) out += (i > from ? "." : "") + labels[i];
    return out;
}

RdfPtr dname(const std::string& text) { return RdfPtr(checked(ldns_dname_new_frm_str(text.c_str()))); }

RrPtr new_rr(const ldns_rdf* owner, ldns_rr_type type, uint32_t ttl) {
    RrPtr rr(checked(ldns_rr_new()));
    ldns_rr_set_owner(rr.get(), checked(ldns_rdf_clone(owner)));
    ldns_rr_set_type(rr.get(), type);
    ldns_rr_set_class(rr.get(), LDNS_RR_CLASS_IN);
    ldns_rr_set_ttl(rr.get(), ttl);
    return rr;
}

void push(const RrPtr& rr, ldns_rdf* rdf) {
    RdfPtr owned(checked(rdf));
    if (!ldns_rr_push_rdf(rr.get(), owned.get())) throw std::bad_alloc();
    (void)owned.release();
}

RrPtr address_rr(const ldns_rdf* owner, const IpAddress& a, uint32_t ttl) {
    bool v4 = a.is_v4();
    RrPtr rr = new_rr(owner, v4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, ttl);
    push(rr, ldns_rdf_new_frm_data(v4 ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, v4 ? 4 : 16,
                                   a.bytes().data() + (v4 ? 12 : 0)));
    return rr;
}

std::vector<uint8_t> to_wire(const ldns_pkt* p) {
    uint8_t* buf = nullptr;
    size_t n = 0;
    ldns_status st = ldns_pkt2wire(&buf, p, &n);
    std::unique_ptr<uint8_t, decltype(&std::free)> owned(buf, &std::free);
    if (st != LDNS_STATUS_OK || !buf) throw std::bad_alloc();
    return std::vector<uint8_t>(buf, buf + n);
}

// A reply being put together: its rcode and sections.
struct Reply {
    int rcode = LDNS_RCODE_NOERROR;  // 12 bits: the header's 4 and EDNS's 8 above them
    bool aa = false;
    std::vector<RrPtr> answer, authority, additional;
};

// What the header of a reply copies from its query.
struct QueryHeader {
    uint16_t id = 0;
    // 4 bits, any value: not an ldns_pkt_opcode, whose enum ends at 5
    // (holding 11 in one is undefined behaviour).
    uint8_t opcode = 0;
    bool rd = false, cd = false;
    bool edns = false;
    const ldns_rr* question = nullptr;  // echoed when there is exactly one
};

std::vector<uint8_t> encode(const QueryHeader& q, const Reply& r, bool ra, size_t limit) {
    auto build = [&](bool answers, bool additional, bool tc) {
        PktPtr p(checked(ldns_pkt_new()));
        ldns_pkt_set_id(p.get(), q.id);
        ldns_pkt_set_qr(p.get(), true);
        ldns_pkt_set_aa(p.get(), r.aa);
        ldns_pkt_set_tc(p.get(), tc);
        ldns_pkt_set_rd(p.get(), q.rd);
        ldns_pkt_set_cd(p.get(), q.cd);
        ldns_pkt_set_ra(p.get(), ra);
        ldns_pkt_set_rcode(p.get(), static_cast<uint8_t>(r.rcode & 0xf));
        auto add = [&](ldns_pkt_section s, const ldns_rr* rr) {
            if (!ldns_pkt_push_rr(p.get(), s, checked(ldns_rr_clone(rr)))) throw std::bad_alloc();
        };
        if (q.question) add(LDNS_SECTION_QUESTION, q.question);
        if (answers) {
            for (const auto& rr : r.answer) add(LDNS_SECTION_ANSWER, rr.get());
            for (const auto& rr : r.authority) add(LDNS_SECTION_AUTHORITY, rr.get());
        }
        if (additional)
            for (const auto& rr : r.additional) add(LDNS_SECTION_ADDITIONAL, rr.get());
        if (q.edns) {
            ldns_pkt_set_edns_udp_size(p.get(), Responder::kEdnsAdvertised);
            ldns_pkt_set_edns_extended_rcode(p.get(), static_cast<uint8_t>(r.rcode >> 4));
        }
        auto wire = to_wire(p.get());
        wire[2] = static_cast<uint8_t>((wire[2] & ~0x78) | (q.opcode << 3));  // the query's opcode, as it came
        return wire;
    };
    auto wire = build(true, true, false);
    if (wire.size() <= limit) return wire;
    // Additional records are a courtesy: leaving them out needs no TC
    // (RFC 2181 9). The answer itself not fitting does.
    if (!r.additional.empty()) {
        wire = build(true, false, false);
        if (wire.size() <= limit) return wire;
    }
    return build(false, false, true);
}

// The reply to a packet ldns cannot read: its header's id, opcode and RD,
// FORMERR, nothing else.
std::vector<uint8_t> formerr_from_header(std::span<const uint8_t> query) {
    QueryHeader h;
    h.id = static_cast<uint16_t>(query[0] << 8 | query[1]);
    h.opcode = (query[2] >> 3) & 0xf;
    h.rd = query[2] & 1;
    Reply r;
    r.rcode = LDNS_RCODE_FORMERR;
    return encode(h, r, false, kTcpLimit);
}

QueryHeader read_header(const ldns_pkt* q, std::span<const uint8_t> wire) {
    QueryHeader h;
    h.id = ldns_pkt_id(q);
    h.opcode = (wire[2] >> 3) & 0xf;
    h.rd = ldns_pkt_rd(q);
    h.cd = ldns_pkt_cd(q);
    h.edns = ldns_pkt_edns(q);
    const ldns_rr_list* questions = ldns_pkt_question(q);
    if (ldns_rr_list_rr_count(questions) == 1) h.question = ldns_rr_list_rr(questions, 0);
    return h;
}

}  // namespace

// Builds the records of an answer inside the zone.
class Answerer {
public:
    Answerer(const Responder& r, const ldns_rr* question, std::vector<std::string> labels)
        : r_(r),
          owner_(ldns_rr_owner(question)),
          qtype_(static_cast<uint16_t>(ldns_rr_get_type(question))),
          labels_(std::move(labels)),
          zone_dot_(r.zone_ + ".") {}

    Reply run() {
        reply_.aa = true;
        answer();
        return std::move(reply_);
    }

private:
    Reply& answer() {
        const auto& L = labels_;
        const size_t k = L.size();
        if (k == 0) return apex();
        if (k == 1 && L[0] == "ns") return nameserver();
        if (!std::all_of(L.begin(), L.end(), plain_label)) return nxdomain();
        // _<service>._<tcp|udp>.<namespace>: SRV.
        if (L[0].size() > 1 && L[0][0] == '_') {
            for (size_t i = 1; i + 1 < k; ++i) {
                if (L[i] != "_tcp" && L[i] != "_udp") continue;
                Protocol proto = L[i] == "_tcp" ? Protocol::Tcp : Protocol::Udp;
                std::string service = join(L, 0, i).substr(1), ns = join(L, i + 1, k);
                auto all = r_.directory_.find(ns, service);
                bool any = std::any_of(all.begin(), all.end(), [&](const DnsService& s) { return s.protocol == proto; });
                if (any) return srv(service, ns, proto, all);
                break;  // only the first _tcp/_udp label: "_a._tcp.b._udp.ns" is service "a" in "b._udp.ns"
            }
        }
        // _<tcp|udp>.<namespace>: the parent of SRV names, which exists.
        if (k >= 2 && (L[0] == "_tcp" || L[0] == "_udp") && r_.directory_.has_namespace(join(L, 1, k))) return nodata();
        // <service>.<namespace>, either of which may contain dots: each split
        // in turn, the shortest namespace first.
        for (size_t j = 1; j <= k; ++j) {
            std::string ns = join(L, k - j, k), name = join(L, 0, k - j);
            if (name.empty()) {
                if (r_.directory_.has_namespace(ns)) return nodata();
                continue;
            }
            auto found = r_.directory_.find(ns, name);
            if (!found.empty()) return addresses(found);
        }
        return nxdomain();
    }

    bool wants(ldns_rr_type t) const { return qtype_ == t || qtype_ == LDNS_RR_TYPE_ANY; }

    Reply& nodata() {
        reply_.answer.clear();
        reply_.additional.clear();
        reply_.authority.push_back(soa());
        return reply_;
    }
    Reply& nxdomain() {
        reply_.rcode = LDNS_RCODE_NXDOMAIN;
        return nodata();
    }

    RrPtr soa() const {
        RdfPtr zone = dname(zone_dot_);
        RrPtr rr = new_rr(zone.get(), LDNS_RR_TYPE_SOA, Responder::kNegativeTtl);
        push(rr, dname("ns." + zone_dot_).release());
        push(rr, dname("hostmaster." + zone_dot_).release());
        push(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, 1));  // serial: nothing transfers the zone
        push(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 3600));   // refresh
        push(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 600));    // retry
        push(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 86400));  // expire
        push(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, Responder::kNegativeTtl));  // negative TTL (RFC 2308)
        return rr;
    }

    Reply& apex() {
        if (wants(LDNS_RR_TYPE_SOA)) reply_.answer.push_back(soa());
        if (wants(LDNS_RR_TYPE_NS)) {
            RrPtr ns = new_rr(owner_, LDNS_RR_TYPE_NS, Responder::kTtl);
            push(ns, dname("ns." + zone_dot_).release());
            reply_.answer.push_back(std::move(ns));
            RdfPtr target = dname("ns." + zone_dot_);
            reply_.additional.push_back(address_rr(target.get(), r_.vip_, Responder::kTtl));
        }
        if (reply_.answer.empty()) return nodata();
        return reply_;
    }

    // ns.<zone>: the address of the apex's NS record, dns.vip.
    Reply& nameserver() {
        if (wants(r_.vip_.is_v4() ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA))
            reply_.answer.push_back(address_rr(owner_, r_.vip_, Responder::kTtl));
        if (reply_.answer.empty()) return nodata();
        return reply_;
    }

    // The distinct VIPs of `found` of the family asked for.
    Reply& addresses(const std::vector<DnsService>& found) {
        std::vector<IpAddress> seen;
        for (const auto& s : found) {
            if (!wants(s.vip.is_v4() ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA)) continue;
            if (std::find(seen.begin(), seen.end(), s.vip) != seen.end() || seen.size() >= kMaxRecords) continue;
            seen.push_back(s.vip);
            reply_.answer.push_back(address_rr(owner_, s.vip, Responder::kTtl));
        }
        if (reply_.answer.empty()) return nodata();
        return reply_;
    }

    Reply& srv(const std::string& service, const std::string& ns, Protocol proto, const std::vector<DnsService>& all) {
        if (!wants(LDNS_RR_TYPE_SRV)) return nodata();
        RdfPtr target = dname(service + "." + ns + "." + zone_dot_);
        std::vector<uint16_t> ports;
        for (const auto& s : all) {
            if (s.protocol != proto || std::find(ports.begin(), ports.end(), s.port) != ports.end()) continue;
            if (ports.size() >= kMaxRecords) break;
            ports.push_back(s.port);
            RrPtr rr = new_rr(owner_, LDNS_RR_TYPE_SRV, Responder::kTtl);
            push(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0));  // priority
            push(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0));  // weight: one choice, RFC 2782's 0
            push(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, s.port));
            push(rr, checked(ldns_rdf_clone(target.get())));
            reply_.answer.push_back(std::move(rr));
        }
        // The target's addresses, as an A/AAAA query for it would answer.
        std::vector<IpAddress> seen;
        for (const auto& s : all) {
            if (std::find(seen.begin(), seen.end(), s.vip) != seen.end() || seen.size() >= kMaxRecords) continue;
            seen.push_back(s.vip);
            reply_.additional.push_back(address_rr(target.get(), s.vip, Responder::kTtl));
        }
        return reply_;
    }

    const Responder& r_;
    const ldns_rdf* owner_;
    uint16_t qtype_;
    std::vector<std::string> labels_;  // below the zone
    std::string zone_dot_;
    Reply reply_;
};

Responder::Responder(const DnsConfig& config, const Directory& directory)
    : zone_(config.zone), vip_(config.vip), recursion_(!config.upstreams.empty()), directory_(directory) {
    for (char& ch : zone_)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    if (!zone_.empty() && zone_.back() == '.') zone_.pop_back();
    for (size_t start = 0; start < zone_.size();) {
        size_t dot = zone_.find('.', start);
        if (dot == std::string::npos) dot = zone_.size();
        zone_labels_.push_back(zone_.substr(start, dot - start));
        start = dot + 1;
    }
}

Decision Responder::respond(std::span<const uint8_t> query, Transport transport) const {
    Decision d;
    // Without an id there is no one to answer; a response is never answered
    // (two responders would otherwise answer each other forever).
    if (query.size() < 12 || (query[2] & kQrBit)) return d;
    d.action = Decision::Action::Reply;
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, query.data(), query.size()) != LDNS_STATUS_OK) {
        d.rcode = LDNS_RCODE_FORMERR;
        d.reply = formerr_from_header(query);
        return d;
    }
    PktPtr q(raw);
    QueryHeader h = read_header(q.get(), query);
    size_t limit = kTcpLimit;
    if (transport == Transport::Udp)
        limit = h.edns ? std::max<size_t>(kUdpDefault, ldns_pkt_edns_udp_size(q.get())) : kUdpDefault;

    Reply r;
    auto reply = [&](int rcode) {
        r.rcode = rcode;
        d.rcode = rcode;
        d.reply = encode(h, r, recursion_, limit);
        return d;
    };
    if (h.opcode != 0) return reply(LDNS_RCODE_NOTIMPL);  // only QUERY
    if (!h.question) return reply(LDNS_RCODE_FORMERR);
    if (h.edns && ldns_pkt_edns_version(q.get()) > 0) return reply(16);  // BADVERS (RFC 6891 6.1.3)

    std::vector<std::string> labels = lowercase_labels(ldns_rr_owner(h.question));
    bool in_zone = labels.size() >= zone_labels_.size() &&
                   std::equal(zone_labels_.rbegin(), zone_labels_.rend(), labels.rbegin());
    // As integers: a class or type outside ldns's enums must not be held in one.
    auto qclass = static_cast<uint16_t>(ldns_rr_get_class(h.question));
    auto qtype = static_cast<uint16_t>(ldns_rr_get_type(h.question));
    if (!in_zone) {
        if (qclass != LDNS_RR_CLASS_IN || !recursion_) return reply(LDNS_RCODE_REFUSED);
        d.action = Decision::Action::Forward;
        return d;
    }
    // The zone is IN only, and is not transferred.
    if (qclass != LDNS_RR_CLASS_IN || qtype == LDNS_RR_TYPE_AXFR || qtype == LDNS_RR_TYPE_IXFR)
        return reply(LDNS_RCODE_REFUSED);
    labels.resize(labels.size() - zone_labels_.size());
    r = Answerer(*this, h.question, std::move(labels)).run();
    return reply(r.rcode);
}

std::vector<uint8_t> Responder::servfail(std::span<const uint8_t> query) const {
    if (query.size() < 12 || (query[2] & kQrBit)) return {};
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, query.data(), query.size()) != LDNS_STATUS_OK) return {};
    PktPtr q(raw);
    QueryHeader h = read_header(q.get(), query);
    Reply r;
    r.rcode = LDNS_RCODE_SERVFAIL;
    return encode(h, r, recursion_, kUdpDefault);
}

}  // namespace hl::dns
