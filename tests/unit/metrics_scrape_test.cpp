// The /metrics text (metrics/scrape.h) from a fake datapath, read back by a
// strict parser of the exposition format (prom_parse.h): every family once
// and whole, labels escaped, histograms cumulative up to +Inf, the values
// the maps hold; the same text whatever the chunk size.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <map>

#include "metrics/scrape.h"
#include "prom_parse.h"

namespace {

using Labels = std::map<std::string, std::string>;

// The maps, as plain containers. Table walks go `step` entries at a time.
struct FakeSource : hl::CounterSource {
    size_t step = 3;
    std::vector<std::pair<hl_service_key, hl_service>> services_;
    std::map<uint32_t, hl_service_meta> names_;
    std::map<uint32_t, hl_backend> backends_;
    std::map<uint32_t, hl_service_stats> stats;
    std::map<uint32_t, hl_service_lc> lc;
    std::map<uint32_t, hl_service_gauge> gauge;
    std::map<uint32_t, hl_service_hist> hist;
    std::map<uint32_t, uint64_t> be_conns;
    std::map<uint32_t, hl_backend_live> be_live;
    std::map<uint32_t, hl_backend_lc> be_lc;
    uint32_t max_service = 64, max_backend = 256;  // the arrays' sizes
    mutable size_t reads = 0;                      // range reads, for the tests of skipping

    template <class C, class F>
    void walk(const C& c, hl::MapCursor& cur, F&& f) const {
        size_t at = 0;
        std::memcpy(&at, cur.token, sizeof at);
        auto it = c.begin();
        std::advance(it, static_cast<long>(std::min(at, c.size())));
        for (size_t n = 0; n < step && it != c.end(); ++n, ++it, ++at) f(it->first, it->second);
        std::memcpy(cur.token, &at, sizeof at);
        cur.started = true;
        cur.done = at >= c.size();
    }
    // Arrays: every id in range has a value (zeroes where nothing was set).
    template <class V, class F>
    void range(const std::map<uint32_t, V>& m, uint32_t a, uint32_t b, uint32_t size, F&& f) const {
        ++reads;
        for (uint32_t id = a; id < b && id < size; ++id) {
            auto it = m.find(id);
            f(id, it == m.end() ? V{} : it->second);
        }
    }
    void services(hl::MapCursor& c, const Fn<const hl_service_key&, const hl_service&>& f) const override {
        walk(services_, c, f);
    }
    void service_names(hl::MapCursor& c, const Fn<uint32_t, const hl_service_meta&>& f) const override {
        walk(names_, c, f);
    }
    void backends(hl::MapCursor& c, const Fn<uint32_t, const hl_backend&>& f) const override { walk(backends_, c, f); }
    void service_stats(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_service_stats&>& f) const override {
        range(stats, a, b, max_service, f);
    }
    void service_lc(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_service_lc&>& f) const override {
        range(lc, a, b, max_service, f);
    }
    void service_gauge(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_service_gauge&>& f) const override {
        range(gauge, a, b, max_service, f);
    }
    void service_hist(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_service_hist&>& f) const override {
        range(hist, a, b, max_service, f);
    }
    void backend_connections(uint32_t a, uint32_t b, const Fn<uint32_t, uint64_t>& f) const override {
        range(be_conns, a, b, max_backend, f);
    }
    void backend_live(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_backend_live&>& f) const override {
        range(be_live, a, b, max_backend, f);
    }
    void backend_lc(uint32_t a, uint32_t b, const Fn<uint32_t, const hl_backend_lc&>& f) const override {
        range(be_lc, a, b, max_backend, f);
    }

    void add_service(uint32_t id, const std::string& ns, const std::string& name, uint8_t proto, uint16_t port) {
        hl_service_key k{};
        k.addr[10] = k.addr[11] = 0xff;
        k.addr[12] = 127;
        k.addr[13] = 255;
        k.addr[15] = static_cast<uint8_t>(id);
        k.port = htons(port);
        k.proto = proto;
        hl_service v{};
        v.id = id;
        services_.push_back({k, v});
        hl_service_meta m{};
        std::strncpy(m.ns, ns.c_str(), sizeof m.ns - 1);
        std::strncpy(m.name, name.c_str(), sizeof m.name - 1);
        names_[id] = m;
    }
    void add_backend(uint32_t id, uint32_t service, const std::string& addr, uint16_t port, uint8_t state = 0) {
        hl_backend b{};
        auto a = hl::IpAddress::parse(addr);
        std::memcpy(b.addr, a->bytes().data(), 16);
        b.port = htons(port);
        b.state = state;
        b.service_id = service;
        backends_[id] = b;
    }
};

std::string scrape_all(hl::ScrapeInputs in, size_t want, size_t* max_piece = nullptr) {
    hl::Scrape s(in);
    std::string text;
    for (int guard = 0; guard < 1'000'000; ++guard) {
        std::string piece;
        bool more = s.fill(piece, want);
        if (max_piece) *max_piece = std::max(*max_piece, piece.size());
        text += piece;
        if (!more) return text;
    }
    ADD_FAILURE() << "the scrape did not end";
    return text;
}

promtest::Parsed parse_ok(const std::string& text) {
    auto p = promtest::parse(text);
    EXPECT_EQ(p.error, "") << "line " << p.error_line << " of:\n" << text.substr(0, 4000);
    return p;
}

struct MetricsScrape : ::testing::Test {
    FakeSource src;
    hl::DaemonCounters daemon;

    MetricsScrape() {
        src.add_service(1, "default", "web", IPPROTO_TCP, 80);
        src.add_service(2, "default", "dns-udp", IPPROTO_UDP, 53);
        src.add_service(3, "team-b", "idle", IPPROTO_TCP, 80);
        src.add_backend(10, 1, "10.0.0.1", 8080);
        src.add_backend(11, 1, "fd00::12", 8080, HL_BACKEND_QUARANTINED);
        src.add_backend(12, 3, "10.0.0.3", 80);
        src.add_backend(20, 2, "10.0.0.53", 53);
        src.add_backend(40, 9, "10.9.9.9", 80);  // of a service that is not there (going): not shown
        src.stats[1].connections = 7;
        src.stats[1].no_backend = 2;
        src.stats[2].connections = 3;
        src.stats[2].udp_translations = 3;
        src.lc[1].established = 5;
        src.lc[1].errors[0] = 1;  // refused
        src.lc[1].errors[1] = 1;  // timeout
        src.lc[1].bytes_sent = 1000;
        src.lc[1].bytes_received = 20000;
        src.gauge[1].active = 2;
        src.hist[1].connect.bucket[0] = 3;  // <= 16 us
        src.hist[1].connect.bucket[3] = 2;  // <= 1.024 ms
        src.hist[1].connect.sum_us = 2100;
        src.hist[1].rtt.bucket[HL_HIST_BUCKETS - 1] = 1;  // +Inf
        src.hist[1].rtt.sum_us = 20'000'000;
        src.be_conns[10] = 4;
        src.be_conns[11] = 3;
        src.be_live[10].active = 2;
        src.be_lc[11].errors[0] = 1;
        src.be_lc[10].bytes_sent = 1000;
        src.lc[3].inbound = 4;
        src.lc[3].inbound_bytes_received = 512;
        src.gauge[3].inbound_active = 1;
        daemon.reloads_ok = 3;
        daemon.dns.count(3);  // NXDOMAIN
    }
};

TEST_F(MetricsScrape, TheTextIsStrictlyValidAndHoldsTheMapsValues) {
    const std::string text = scrape_all({&src, nullptr, &daemon}, 64 * 1024);
    auto p = parse_ok(text);
    const Labels web{{"namespace", "default"}, {"service", "web"}};
    const Labels udp{{"namespace", "default"}, {"service", "dns-udp"}};
    const Labels idle{{"namespace", "team-b"}, {"service", "idle"}};
    auto with = [](Labels l, const std::string& k, const std::string& v) {
        l[k] = v;
        return l;
    };
    EXPECT_EQ(p.value("hopless_service_connections_total", web), 7);
    EXPECT_EQ(p.value("hopless_service_no_backend_total", web), 2);
    EXPECT_EQ(p.value("hopless_service_connections_total", udp), 3);
    EXPECT_EQ(p.value("hopless_service_udp_translations_total", udp), 3);
    EXPECT_EQ(p.value("hopless_service_connections_total", idle), 0) << "every service has its connect counters";
    EXPECT_EQ(p.value("hopless_service_active_connections", web), 2);
    EXPECT_EQ(p.value("hopless_service_active_connections", idle), 0) << "every TCP service has its gauge";
    EXPECT_FALSE(p.value("hopless_service_active_connections", udp)) << "not a UDP one";
    EXPECT_EQ(p.value("hopless_service_connect_errors_total", with(web, "reason", "refused")), 1);
    EXPECT_EQ(p.value("hopless_service_connect_errors_total", with(web, "reason", "timeout")), 1);
    EXPECT_EQ(p.value("hopless_service_connect_errors_total", with(web, "reason", "reset")), 0);
    EXPECT_EQ(p.value("hopless_service_connect_errors_total", with(web, "reason", "other")), 0);
    EXPECT_EQ(p.value("hopless_service_bytes_total", with(web, "direction", "sent")), 1000);
    EXPECT_EQ(p.value("hopless_service_bytes_total", with(web, "direction", "received")), 20000);
    EXPECT_FALSE(p.value("hopless_service_connect_errors_total", with(idle, "reason", "refused")))
        << "no lifecycle series before a service's first followed connection";
    // Histograms: cumulative buckets in seconds, +Inf, sum and count.
    EXPECT_EQ(p.value("hopless_service_connect_duration_seconds_bucket", with(web, "le", "1.6e-05")), 3);
    EXPECT_EQ(p.value("hopless_service_connect_duration_seconds_bucket", with(web, "le", "0.000256")), 3);
    EXPECT_EQ(p.value("hopless_service_connect_duration_seconds_bucket", with(web, "le", "0.001024")), 5);
    EXPECT_EQ(p.value("hopless_service_connect_duration_seconds_bucket", with(web, "le", "+Inf")), 5);
    EXPECT_DOUBLE_EQ(*p.value("hopless_service_connect_duration_seconds_sum", web), 0.0021);
    EXPECT_EQ(p.value("hopless_service_connect_duration_seconds_count", web), 5);
    EXPECT_EQ(p.value("hopless_service_rtt_seconds_bucket", with(web, "le", "16.777216")), 0);
    EXPECT_EQ(p.value("hopless_service_rtt_seconds_bucket", with(web, "le", "+Inf")), 1);
    EXPECT_EQ(p.value("hopless_service_rtt_seconds_sum", web), 20);
    EXPECT_EQ(p.family("hopless_service_connect_duration_seconds")->samples.size(), HL_HIST_BUCKETS + 2u)
        << "one histogram: only services with samples";
    // Backends: counters and gauges only, labelled ADDR:PORT ([V6]:PORT).
    const Labels b10 = with(web, "backend", "10.0.0.1:8080"), b11 = with(web, "backend", "[fd00::12]:8080");
    EXPECT_EQ(p.value("hopless_backend_connections_total", b10), 4);
    EXPECT_EQ(p.value("hopless_backend_connections_total", b11), 3);
    EXPECT_EQ(p.value("hopless_backend_connections_total", with(idle, "backend", "10.0.0.3:80")), 0);
    EXPECT_EQ(p.value("hopless_backend_connections_total", with(udp, "backend", "10.0.0.53:53")), 0);
    EXPECT_EQ(p.value("hopless_backend_healthy", b10), 1);
    EXPECT_EQ(p.value("hopless_backend_healthy", b11), 0) << "quarantined";
    EXPECT_EQ(p.value("hopless_backend_active_connections", b10), 2);
    EXPECT_EQ(p.value("hopless_backend_connect_errors_total", with(b11, "reason", "refused")), 1);
    EXPECT_EQ(p.value("hopless_backend_bytes_total", with(b10, "direction", "sent")), 1000);
    EXPECT_FALSE(p.value("hopless_backend_active_connections", with(idle, "backend", "10.0.0.3:80")));
    EXPECT_EQ(text.find("10.9.9.9"), std::string::npos) << "a backend of a service not in the maps";
    for (const auto& f : p.families) {
        if (f.name.rfind("hopless_backend_", 0) == 0) {
            EXPECT_NE(f.type, "histogram") << f.name;
        }
    }
    // The server side.
    EXPECT_EQ(p.value("hopless_inbound_connections_total", idle), 4);
    EXPECT_EQ(p.value("hopless_inbound_active_connections", idle), 1);
    EXPECT_EQ(p.value("hopless_inbound_bytes_total", with(idle, "direction", "received")), 512);
    EXPECT_FALSE(p.value("hopless_inbound_connections_total", web));
    // The daemon's own.
    EXPECT_EQ(p.value("hopless_services"), 3);
    EXPECT_EQ(p.value("hopless_config_reloads_total", {{"result", "ok"}}), 3);
    EXPECT_EQ(p.value("hopless_config_reloads_total", {{"result", "rejected"}}), 0);
    EXPECT_EQ(p.value("hopless_dns_queries_total", {{"rcode", "NXDOMAIN"}}), 1);
    EXPECT_EQ(p.value("hopless_registry_source_up", {{"source", "file"}}), 1);
    EXPECT_FALSE(p.value("hopless_registry_source_up", {{"source", "etcd"}})) << "etcd is not configured";
    // Types as DESIGN.md has them.
    const std::map<std::string, std::string> types = {
        {"hopless_service_connections_total", "counter"},   {"hopless_backend_connections_total", "counter"},
        {"hopless_service_no_backend_total", "counter"},    {"hopless_service_active_connections", "gauge"},
        {"hopless_backend_active_connections", "gauge"},    {"hopless_service_connect_errors_total", "counter"},
        {"hopless_backend_connect_errors_total", "counter"}, {"hopless_service_bytes_total", "counter"},
        {"hopless_backend_bytes_total", "counter"},         {"hopless_service_connect_duration_seconds", "histogram"},
        {"hopless_service_rtt_seconds", "histogram"},       {"hopless_backend_healthy", "gauge"},
        {"hopless_inbound_connections_total", "counter"},   {"hopless_inbound_active_connections", "gauge"},
        {"hopless_inbound_bytes_total", "counter"},         {"hopless_dns_queries_total", "counter"},
        {"hopless_service_udp_translations_total", "counter"}, {"hopless_service_revnat_stale_total", "counter"},
        {"hopless_service_affinity_hits_total", "counter"}, {"hopless_service_bind_rejects_total", "counter"},
        {"hopless_service_sockets_destroyed_total", "counter"}, {"hopless_services", "gauge"},
        {"hopless_config_reloads_total", "counter"},        {"hopless_registry_source_up", "gauge"},
        {"hopless_registry_last_sync_seconds", "gauge"},
    };
    for (const auto& [name, type] : types) {
        const auto* f = p.family(name);
        ASSERT_NE(f, nullptr) << name;
        EXPECT_EQ(f->type, type) << name;
        EXPECT_FALSE(f->help.empty()) << name;
    }
}

TEST_F(MetricsScrape, TheSameTextWhateverTheChunkSize) {
    const std::string whole = scrape_all({&src, nullptr, &daemon}, 1 << 30);
    for (size_t want : {1, 7, 100, 4096}) EXPECT_EQ(scrape_all({&src, nullptr, &daemon}, want), whole) << want;
}

TEST_F(MetricsScrape, LabelValuesAreEscaped) {
    src.add_service(5, "a\"b\\c", "new\nline", IPPROTO_TCP, 81);
    const std::string text = scrape_all({&src, nullptr, nullptr}, 64 * 1024);
    EXPECT_NE(text.find(R"(namespace="a\"b\\c",service="new\nline")"), std::string::npos);
    auto p = parse_ok(text);
    EXPECT_EQ(p.value("hopless_service_connections_total", {{"namespace", "a\"b\\c"}, {"service", "new\nline"}}), 0);
}

TEST_F(MetricsScrape, AtScaleEachPieceIsBoundedAndIdleServicesCostNoReads) {
    FakeSource big;
    big.step = 1024;
    const uint32_t n = 5000;
    big.max_service = n + 1;
    big.max_backend = 4 * n + 1;
    for (uint32_t i = 1; i <= n; ++i) {
        big.add_service(i, "default", "s" + std::to_string(i), IPPROTO_TCP, 80);
        for (uint32_t k = 0; k < 4; ++k)
            big.add_backend(4 * (i - 1) + k + 1, i, "10.1." + std::to_string(i % 250) + "." + std::to_string(k + 1), 80);
    }
    size_t max_piece = 0;
    const std::string text = scrape_all({&big, nullptr, nullptr}, 64 * 1024, &max_piece);
    auto p = parse_ok(text);
    EXPECT_EQ(p.family("hopless_service_connections_total")->samples.size(), n);
    EXPECT_EQ(p.family("hopless_service_active_connections")->samples.size(), n);
    EXPECT_EQ(p.family("hopless_backend_connections_total")->samples.size(), 4 * n);
    EXPECT_EQ(p.family("hopless_backend_healthy")->samples.size(), 4 * n);
    EXPECT_TRUE(p.family("hopless_service_connect_errors_total")->samples.empty()) << "all idle";
    EXPECT_LT(max_piece, 64 * 1024 + 256 * 1024) << "a piece is the chunk and at most one step more";
    // Reads: presence (2 maps per 256 services, 3 per 1024 backends) and the
    // families that have series; the idle services' lifecycle families read nothing.
    const size_t svc_steps = (n + 255) / 256, be_steps = (4 * n + 1023) / 1024;
    EXPECT_EQ(big.reads, svc_steps * (2 + 7 + 1) + be_steps * (3 + 1));
}

TEST_F(MetricsScrape, HealthFamiliesComeFromTheTracker) {
    hl::health::Tracker t;
    hl::HealthCheck check;
    hl::OutlierDetection outlier;
    outlier.consecutive_failures = 2;
    const hl::health::Endpoint a{*hl::IpAddress::parse("10.0.0.1"), 8080}, b{*hl::IpAddress::parse("10.0.0.2"), 8080};
    hl::health::TrackedService web{{"default", "web"}, 1, nullptr, &outlier, {{a, 10}, {b, 11}}};
    hl::health::TrackedService api{{"default", "api"}, 4, &check, nullptr, {{a, 30}}};
    (void)t.update(web, hl::health::Clock::now());
    (void)t.update(api, hl::health::Clock::now());
    hl_connect_failure ev{};
    ev.service_id = 1;
    ev.backend_id = 10;
    ev.consecutive_failures = 2;
    ev.reason = HL_REASON_REFUSED;
    ASSERT_TRUE(t.connect_failure(ev, hl::health::Clock::now()));
    (void)t.set_fail_open({"default", "api"}, true);
    auto p = parse_ok(scrape_all({&src, &t, &daemon}, 64 * 1024));
    const Labels web_l{{"namespace", "default"}, {"service", "web"}}, api_l{{"namespace", "default"}, {"service", "api"}};
    auto with = [](Labels l, const std::string& v) {
        l["backend"] = v;
        return l;
    };
    EXPECT_EQ(p.value("hopless_backend_ejections_total", with(web_l, "10.0.0.1:8080")), 1);
    EXPECT_EQ(p.value("hopless_backend_ejections_total", with(web_l, "10.0.0.2:8080")), 0);
    EXPECT_FALSE(p.value("hopless_backend_ejections_total", with(api_l, "10.0.0.1:8080")))
        << "ejections only with outlier_detection";
    EXPECT_EQ(p.value("hopless_service_panic", api_l), 1);
    EXPECT_EQ(p.value("hopless_service_panic_total", api_l), 1);
    EXPECT_EQ(p.value("hopless_service_panic", web_l), 0);
    EXPECT_EQ(p.family("hopless_backend_ejections_total")->type, "counter");
    EXPECT_EQ(p.family("hopless_service_panic")->type, "gauge");
}

TEST_F(MetricsScrape, EtcdSeriesWhenConfigured) {
    daemon.etcd.configured = true;
    daemon.etcd.up = false;
    daemon.etcd.relists = 2;
    daemon.etcd.away_since_ms = 1;  // long ago
    auto p = parse_ok(scrape_all({nullptr, nullptr, &daemon}, 64 * 1024));
    EXPECT_EQ(p.value("hopless_registry_source_up", {{"source", "etcd"}}), 0);
    EXPECT_GT(*p.value("hopless_registry_last_sync_seconds", {{"source", "etcd"}}), 1e6);
    EXPECT_EQ(p.value("hopless_etcd_relists_total"), 2);
    EXPECT_EQ(p.value("hopless_etcd_lease_lost_total"), 0);
}

// The parser is strict: what it must refuse.
TEST(PromParse, RefusesWhatPrometheusWouldNotTake) {
    const char* bad[] = {
        "# TYPE a counter\na 1\n# TYPE b counter\nb 1\na 2\n",             // a family comes back
        "# TYPE a counter\n# TYPE a counter\na 1\n",                        // TYPE twice
        "a 1\n",                                                            // no TYPE
        "# TYPE a counter\na{x=\"1\",} 1\n",                                // trailing comma
        "# TYPE a counter\na{x=\"\\t\"} 1\n",                               // bad escape
        "# TYPE a counter\na{x=\"1\"} 1\na{x=\"1\"} 2\n",                   // series twice
        "# TYPE a counter\na -1\n",                                         // negative counter
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",  // not cumulative
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  // no +Inf
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",  // count != +Inf
        "# TYPE a counter\na 1",                                            // no final newline
        "# TYPE a counter\na one\n",                                        // not a number
    };
    for (const char* t : bad) EXPECT_NE(promtest::parse(t).error, "") << t;
    EXPECT_EQ(promtest::parse("# HELP a x\\ny\n# TYPE a gauge\na{b=\"\\\"\"} NaN\n").error, "");
}

}  // namespace
