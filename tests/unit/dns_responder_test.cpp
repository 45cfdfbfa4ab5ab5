// hl::dns::Responder: query bytes in, a reply (or forward, or drop) out.
// Packets are built and read with ldns, as a client would.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dns/responder.h"
#include "dns_test_util.h"

namespace {

using hl::dns::Decision;
using hl::dns::Responder;
using hl::dns::Transport;
using hl::dns::test::FakeDirectory;
using hl::dns::test::make_query;
using hl::dns::test::parse_reply;
using hl::dns::test::records;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const char* kSoa =
    "hopless.internal. 1 IN SOA ns.hopless.internal. hostmaster.hopless.internal. 1 3600 600 86400 1";

class ResponderTest : public ::testing::Test {
protected:
    ResponderTest() {
        cfg.listen = {*hl::SocketAddress::parse("127.0.0.1:53")};
        cfg.vip = *hl::IpAddress::parse("127.255.255.254");
        dir.add("default", "web", "127.255.0.1", 80);
        dir.add("default", "dns", "127.255.0.2", 53, hl::Protocol::Udp);
        dir.add("default", "dns", "127.255.0.2", 53, hl::Protocol::Tcp);
        dir.add("default", "v6", "fd00::80", 8080);
        dir.add("default", "api.v1", "127.255.0.3", 443);
        dir.add("team.b", "db", "127.255.0.4", 5432);
        dir.add("default", "dual", "127.255.0.5", 80, hl::Protocol::Tcp);
        dir.add("default", "dual", "fd00::5", 80, hl::Protocol::Udp);
    }

    Decision ask(const std::vector<uint8_t>& q, Transport t = Transport::Udp) {
        Responder r(cfg, dir);
        return r.respond(q, t);
    }
    // Asks and reads the reply, which must be one.
    hl::dns::PktPtr reply(const std::vector<uint8_t>& q, Transport t = Transport::Udp) {
        Decision d = ask(q, t);
        EXPECT_EQ(d.action, Decision::Action::Reply);
        auto p = parse_reply(d.reply);
        EXPECT_TRUE(p) << "the reply does not parse";
        if (p) {
            EXPECT_EQ(ldns_pkt_id(p.get()), 0x1234);
            EXPECT_TRUE(ldns_pkt_qr(p.get()));
            EXPECT_EQ(d.rcode & 0xf, ldns_pkt_get_rcode(p.get()));
        }
        return p;
    }

    hl::DnsConfig cfg;
    FakeDirectory dir;
};

TEST_F(ResponderTest, AOfAService) {
    auto p = reply(make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
    EXPECT_TRUE(ldns_pkt_aa(p.get()));
    EXPECT_TRUE(ldns_pkt_rd(p.get())) << "RD is copied from the query";
    EXPECT_FALSE(ldns_pkt_ra(p.get())) << "no upstreams: no recursion";
    EXPECT_THAT(records(p.get(), LDNS_SECTION_QUESTION), ElementsAre("web.default.hopless.internal. IN A"));
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), ElementsAre("web.default.hopless.internal. 5 IN A 127.255.0.1"));
    EXPECT_THAT(records(p.get(), LDNS_SECTION_AUTHORITY), IsEmpty());
}

TEST_F(ResponderTest, AaaaOfAV6Service) {
    auto p = reply(make_query("v6.default.hopless.internal.", LDNS_RR_TYPE_AAAA));
    ASSERT_TRUE(p);
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), ElementsAre("v6.default.hopless.internal. 5 IN AAAA fd00::80"));
}

TEST_F(ResponderTest, TcpAndUdpOfOneNameGiveOneAddress) {
    auto p = reply(make_query("dns.default.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(p);
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), ElementsAre("dns.default.hopless.internal. 5 IN A 127.255.0.2"));
}

TEST_F(ResponderTest, NameWithBothFamilies) {
    auto a = reply(make_query("dual.default.hopless.internal.", LDNS_RR_TYPE_A));
    auto aaaa = reply(make_query("dual.default.hopless.internal.", LDNS_RR_TYPE_AAAA));
    ASSERT_TRUE(a && aaaa);
    EXPECT_THAT(records(a.get(), LDNS_SECTION_ANSWER), ElementsAre("dual.default.hopless.internal. 5 IN A 127.255.0.5"));
    EXPECT_THAT(records(aaaa.get(), LDNS_SECTION_ANSWER),
                ElementsAre("dual.default.hopless.internal. 5 IN AAAA fd00::5"));
}

TEST_F(ResponderTest, AaaaOfAV4ServiceIsNodata) {
    auto p = reply(make_query("web.default.hopless.internal.", LDNS_RR_TYPE_AAAA));
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), IsEmpty());
    EXPECT_THAT(records(p.get(), LDNS_SECTION_AUTHORITY), ElementsAre(kSoa));
}

TEST_F(ResponderTest, SrvWithTheTargetsAddressAsAdditional) {
    auto p = reply(make_query("_web._tcp.default.hopless.internal.", LDNS_RR_TYPE_SRV));
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER),
                ElementsAre("_web._tcp.default.hopless.internal. 5 IN SRV 0 0 80 web.default.hopless.internal."));
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ADDITIONAL),
                ElementsAre("web.default.hopless.internal. 5 IN A 127.255.0.1"));
}

TEST_F(ResponderTest, SrvOfEachProtocol) {
    auto udp = reply(make_query("_dns._udp.default.hopless.internal.", LDNS_RR_TYPE_SRV));
    ASSERT_TRUE(udp);
    EXPECT_THAT(records(udp.get(), LDNS_SECTION_ANSWER),
                ElementsAre("_dns._udp.default.hopless.internal. 5 IN SRV 0 0 53 dns.default.hopless.internal."));
    auto v6 = reply(make_query("_dual._udp.default.hopless.internal.", LDNS_RR_TYPE_SRV));
    ASSERT_TRUE(v6);
    EXPECT_THAT(records(v6.get(), LDNS_SECTION_ADDITIONAL),
                ElementsAre("dual.default.hopless.internal. 5 IN A 127.255.0.5",
                            "dual.default.hopless.internal. 5 IN AAAA fd00::5"))
        << "the target's addresses: what an A and an AAAA query for it answer";
}

TEST_F(ResponderTest, SrvOfTheOtherProtocolIsNxdomain) {
    auto p = reply(make_query("_web._udp.default.hopless.internal.", LDNS_RR_TYPE_SRV));
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NXDOMAIN);
    EXPECT_THAT(records(p.get(), LDNS_SECTION_AUTHORITY), ElementsAre(kSoa));
}

TEST_F(ResponderTest, OtherTypesOfAnSrvNameAreNodata) {
    auto p = reply(make_query("_web._tcp.default.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), IsEmpty());
    EXPECT_THAT(records(p.get(), LDNS_SECTION_AUTHORITY), ElementsAre(kSoa));
    auto web_srv = reply(make_query("web.default.hopless.internal.", LDNS_RR_TYPE_SRV));
    ASSERT_TRUE(web_srv);
    EXPECT_EQ(ldns_pkt_get_rcode(web_srv.get()), LDNS_RCODE_NOERROR);
    EXPECT_THAT(records(web_srv.get(), LDNS_SECTION_ANSWER), IsEmpty());
}

TEST_F(ResponderTest, UnknownServiceIsNxdomainWithTheSoa) {
    auto p = reply(make_query("nope.default.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NXDOMAIN);
    EXPECT_TRUE(ldns_pkt_aa(p.get()));
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), IsEmpty());
    EXPECT_THAT(records(p.get(), LDNS_SECTION_AUTHORITY), ElementsAre(kSoa))
        << "TTL and minimum 1 s: a service created a moment later resolves at once";
}

TEST_F(ResponderTest, NamespacesExistWithoutRecords) {
    auto ns = reply(make_query("default.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(ns);
    EXPECT_EQ(ldns_pkt_get_rcode(ns.get()), LDNS_RCODE_NOERROR);
    EXPECT_THAT(records(ns.get(), LDNS_SECTION_AUTHORITY), ElementsAre(kSoa));
    auto tcp = reply(make_query("_tcp.default.hopless.internal.", LDNS_RR_TYPE_SRV));
    ASSERT_TRUE(tcp);
    EXPECT_EQ(ldns_pkt_get_rcode(tcp.get()), LDNS_RCODE_NOERROR) << "the parent of SRV names exists";
    auto none = reply(make_query("nosuch.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(none);
    EXPECT_EQ(ldns_pkt_get_rcode(none.get()), LDNS_RCODE_NXDOMAIN);
    auto deeper = reply(make_query("web.nosuch.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(deeper);
    EXPECT_EQ(ldns_pkt_get_rcode(deeper.get()), LDNS_RCODE_NXDOMAIN);
}

TEST_F(ResponderTest, DottedServiceAndNamespaceNames) {
    auto api = reply(make_query("api.v1.default.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(api);
    EXPECT_THAT(records(api.get(), LDNS_SECTION_ANSWER),
                ElementsAre("api.v1.default.hopless.internal. 5 IN A 127.255.0.3"));
    auto db = reply(make_query("db.team.b.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(db);
    EXPECT_THAT(records(db.get(), LDNS_SECTION_ANSWER), ElementsAre("db.team.b.hopless.internal. 5 IN A 127.255.0.4"));
    auto srv = reply(make_query("_api.v1._tcp.default.hopless.internal.", LDNS_RR_TYPE_SRV));
    ASSERT_TRUE(srv);
    EXPECT_THAT(records(srv.get(), LDNS_SECTION_ANSWER),
                ElementsAre("_api.v1._tcp.default.hopless.internal. 5 IN SRV 0 0 443 api.v1.default.hopless.internal."));
}

TEST_F(ResponderTest, ApexSoaNsAndNodata) {
    auto soa = reply(make_query("hopless.internal.", LDNS_RR_TYPE_SOA));
    ASSERT_TRUE(soa);
    EXPECT_THAT(records(soa.get(), LDNS_SECTION_ANSWER), ElementsAre(kSoa));
    auto ns = reply(make_query("hopless.internal.", LDNS_RR_TYPE_NS));
    ASSERT_TRUE(ns);
    EXPECT_THAT(records(ns.get(), LDNS_SECTION_ANSWER), ElementsAre("hopless.internal. 5 IN NS ns.hopless.internal."));
    EXPECT_THAT(records(ns.get(), LDNS_SECTION_ADDITIONAL), ElementsAre("ns.hopless.internal. 5 IN A 127.255.255.254"));
    auto a = reply(make_query("hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(a);
    EXPECT_EQ(ldns_pkt_get_rcode(a.get()), LDNS_RCODE_NOERROR);
    EXPECT_THAT(records(a.get(), LDNS_SECTION_ANSWER), IsEmpty());
    EXPECT_THAT(records(a.get(), LDNS_SECTION_AUTHORITY), ElementsAre(kSoa));
    auto nsa = reply(make_query("ns.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(nsa);
    EXPECT_THAT(records(nsa.get(), LDNS_SECTION_ANSWER), ElementsAre("ns.hopless.internal. 5 IN A 127.255.255.254"));
}

TEST_F(ResponderTest, NamesAreCaseInsensitiveAndKeepTheQuestionsSpelling) {
    auto p = reply(make_query("WeB.DeFault.HOPLESS.Internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(p);
    EXPECT_THAT(records(p.get(), LDNS_SECTION_QUESTION), ElementsAre("WeB.DeFault.HOPLESS.Internal. IN A"));
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), ElementsAre("WeB.DeFault.HOPLESS.Internal. 5 IN A 127.255.0.1"));
    dir.add("Upper", "MixedCase", "127.255.0.9", 80);
    auto m = reply(make_query("mixedcase.upper.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(m);
    EXPECT_THAT(records(m.get(), LDNS_SECTION_ANSWER), SizeIs(1));
}

TEST_F(ResponderTest, OtherZoneSpelling) {
    cfg.zone = "Svc.Example.";
    dir.add("default", "x", "127.255.0.8", 80);
    auto p = reply(make_query("x.default.svc.example.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(p);
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), ElementsAre("x.default.svc.example. 5 IN A 127.255.0.8"));
}

TEST_F(ResponderTest, OutsideTheZoneRefusedWithoutUpstreams) {
    auto p = reply(make_query("example.com.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_REFUSED);
    EXPECT_FALSE(ldns_pkt_aa(p.get()));
    // A name that only ends like the zone is outside it.
    auto q = reply(make_query("xhopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(q);
    EXPECT_EQ(ldns_pkt_get_rcode(q.get()), LDNS_RCODE_REFUSED);
}

TEST_F(ResponderTest, OutsideTheZoneForwardedWithUpstreams) {
    cfg.upstreams = {*hl::SocketAddress::parse("127.0.0.53:53")};
    Decision d = ask(make_query("example.com.", LDNS_RR_TYPE_A));
    EXPECT_EQ(d.action, Decision::Action::Forward);
    EXPECT_TRUE(d.reply.empty());
    auto p = reply(make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(p);
    EXPECT_TRUE(ldns_pkt_ra(p.get())) << "with upstreams recursion is available";
    auto ch = reply(make_query("version.bind.", LDNS_RR_TYPE_TXT, {}, LDNS_RR_CLASS_CH));
    ASSERT_TRUE(ch);
    EXPECT_EQ(ldns_pkt_get_rcode(ch.get()), LDNS_RCODE_REFUSED) << "only class IN is forwarded";
}

TEST_F(ResponderTest, ServfailForAForwardedQuery) {
    cfg.upstreams = {*hl::SocketAddress::parse("127.0.0.53:53")};
    Responder r(cfg, dir);
    auto q = make_query("example.com.", LDNS_RR_TYPE_A);
    auto p = parse_reply(r.servfail(q));
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_id(p.get()), 0x1234);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_SERVFAIL);
    EXPECT_THAT(records(p.get(), LDNS_SECTION_QUESTION), ElementsAre("example.com. IN A"));
    EXPECT_TRUE(r.servfail(std::vector<uint8_t>{1, 2, 3}).empty());
}

TEST_F(ResponderTest, ClassOtherThanInInTheZoneIsRefused) {
    auto p = reply(make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A, {}, LDNS_RR_CLASS_CH));
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_REFUSED);
    auto axfr = reply(make_query("hopless.internal.", LDNS_RR_TYPE_AXFR), Transport::Tcp);
    ASSERT_TRUE(axfr);
    EXPECT_EQ(ldns_pkt_get_rcode(axfr.get()), LDNS_RCODE_REFUSED);
}

TEST_F(ResponderTest, MalformedWithAHeaderIsFormerr) {
    auto q = make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A);
    q.resize(q.size() - 3);  // the question cut short
    Decision d = ask(q);
    ASSERT_EQ(d.action, Decision::Action::Reply);
    EXPECT_EQ(d.rcode, LDNS_RCODE_FORMERR);
    auto p = parse_reply(d.reply);
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_id(p.get()), 0x1234);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_FORMERR);
    EXPECT_TRUE(ldns_pkt_rd(p.get()));

    auto two = make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A, [](ldns_pkt* pkt) {
        ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION,
                         ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(pkt), 0)));
    });
    auto p2 = reply(two);
    ASSERT_TRUE(p2);
    EXPECT_EQ(ldns_pkt_get_rcode(p2.get()), LDNS_RCODE_FORMERR) << "one question per query";

    auto none = make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A, [](ldns_pkt* pkt) {
        ldns_rr_list_deep_free(ldns_pkt_question(pkt));
        ldns_pkt_set_question(pkt, ldns_rr_list_new());
        ldns_pkt_set_qdcount(pkt, 0);
    });
    auto p0 = reply(none);
    ASSERT_TRUE(p0);
    EXPECT_EQ(ldns_pkt_get_rcode(p0.get()), LDNS_RCODE_FORMERR);
}

TEST_F(ResponderTest, NoHeaderOrAResponseIsDropped) {
    EXPECT_EQ(ask({0x12, 0x34, 0x01}).action, Decision::Action::Drop);
    EXPECT_EQ(ask({}).action, Decision::Action::Drop);
    auto resp = make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A, [](ldns_pkt* p) { ldns_pkt_set_qr(p, true); });
    EXPECT_EQ(ask(resp).action, Decision::Action::Drop) << "a response is never answered";
}

TEST_F(ResponderTest, OnlyQueryOpcode) {
    auto q = make_query("hopless.internal.", LDNS_RR_TYPE_SOA, [](ldns_pkt* p) { ldns_pkt_set_opcode(p, LDNS_PACKET_UPDATE); });
    auto p = reply(q);
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOTIMPL);
    EXPECT_EQ(ldns_pkt_get_opcode(p.get()), LDNS_PACKET_UPDATE);
}

TEST_F(ResponderTest, EdnsIsAnsweredWithEdns) {
    auto p = reply(make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A,
                              [](ldns_pkt* q) { ldns_pkt_set_edns_udp_size(q, 4096); }));
    ASSERT_TRUE(p);
    EXPECT_TRUE(ldns_pkt_edns(p.get()));
    EXPECT_EQ(ldns_pkt_edns_udp_size(p.get()), Responder::kEdnsAdvertised);
    auto plain = reply(make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(plain);
    EXPECT_FALSE(ldns_pkt_edns(plain.get())) << "no OPT for a client that sent none";
}

TEST_F(ResponderTest, EdnsVersionAboveZeroIsBadvers) {
    Decision d = ask(make_query("web.default.hopless.internal.", LDNS_RR_TYPE_A, [](ldns_pkt* q) {
        ldns_pkt_set_edns_udp_size(q, 1232);
        ldns_pkt_set_edns_version(q, 1);
    }));
    ASSERT_EQ(d.action, Decision::Action::Reply);
    EXPECT_EQ(d.rcode, 16);
    auto p = parse_reply(d.reply);
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_edns_extended_rcode(p.get()), 1);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), 0);
}

// 40 VIPs behind one name: 40 A records (16 bytes each, compressed) make an
// answer of some 700 bytes.
class TruncationTest : public ResponderTest {
protected:
    TruncationTest() {
        for (int i = 1; i <= 40; ++i)
            dir.add("default", "big", ("127.255.1." + std::to_string(i)).c_str(), 80);
    }
    std::vector<uint8_t> big(int edns_size) {
        return make_query("big.default.hopless.internal.", LDNS_RR_TYPE_A, [&](ldns_pkt* q) {
            if (edns_size) ldns_pkt_set_edns_udp_size(q, static_cast<uint16_t>(edns_size));
        });
    }
};

TEST_F(TruncationTest, UdpWithoutEdnsIsCutAt512WithTc) {
    Decision d = ask(big(0));
    ASSERT_EQ(d.action, Decision::Action::Reply);
    EXPECT_LE(d.reply.size(), 512u);
    auto p = parse_reply(d.reply);
    ASSERT_TRUE(p);
    EXPECT_TRUE(ldns_pkt_tc(p.get()));
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOERROR);
    EXPECT_THAT(records(p.get(), LDNS_SECTION_QUESTION), SizeIs(1));
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), IsEmpty());
}

TEST_F(TruncationTest, TcpGetsTheWholeAnswer) {
    Decision d = ask(big(0), Transport::Tcp);
    EXPECT_GT(d.reply.size(), 512u);
    auto p = parse_reply(d.reply);
    ASSERT_TRUE(p);
    EXPECT_FALSE(ldns_pkt_tc(p.get()));
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), SizeIs(40));
}

TEST_F(TruncationTest, TheClientsEdnsSizeIsHonoured) {
    Decision roomy = ask(big(1232));
    auto p = parse_reply(roomy.reply);
    ASSERT_TRUE(p);
    EXPECT_FALSE(ldns_pkt_tc(p.get()));
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), SizeIs(40));
    EXPECT_LE(roomy.reply.size(), 1232u);

    Decision tight = ask(big(600));
    EXPECT_LE(tight.reply.size(), 600u);
    auto t = parse_reply(tight.reply);
    ASSERT_TRUE(t);
    EXPECT_TRUE(ldns_pkt_tc(t.get()));
    EXPECT_TRUE(ldns_pkt_edns(t.get())) << "the OPT stays in a truncated reply";

    Decision tiny = ask(big(100));  // below 512 counts as 512 (RFC 6891 6.2.3)
    EXPECT_LE(tiny.reply.size(), 512u);
    EXPECT_GT(tiny.reply.size(), 12u);
}

TEST_F(TruncationTest, AdditionalRecordsGoFirstWithoutTc) {
    // One SRV record whose target has 40 addresses: the answer fits, the
    // additional section does not; it is left out, without TC.
    Decision d = ask(make_query("_big._tcp.default.hopless.internal.", LDNS_RR_TYPE_SRV));
    EXPECT_LE(d.reply.size(), 512u);
    auto p = parse_reply(d.reply);
    ASSERT_TRUE(p);
    EXPECT_FALSE(ldns_pkt_tc(p.get()));
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ANSWER), SizeIs(1));
    EXPECT_THAT(records(p.get(), LDNS_SECTION_ADDITIONAL), IsEmpty());
    auto tcp = parse_reply(ask(make_query("_big._tcp.default.hopless.internal.", LDNS_RR_TYPE_SRV), Transport::Tcp).reply);
    ASSERT_TRUE(tcp);
    EXPECT_THAT(records(tcp.get(), LDNS_SECTION_ADDITIONAL), SizeIs(40));
}

TEST_F(ResponderTest, LabelsOutsideTheNameCharsetAreNxdomainWithoutALookup) {
    size_t before = dir.finds();
    auto p = reply(make_query("we\\032b.default.hopless.internal.", LDNS_RR_TYPE_A));
    ASSERT_TRUE(p);
    EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NXDOMAIN);
    EXPECT_EQ(dir.finds(), before);
}

}  // namespace
