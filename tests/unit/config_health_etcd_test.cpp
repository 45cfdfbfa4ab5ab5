// The config keys of live health, locality and etcd (DESIGN.md "Config"):
// connect_timeout, prefer, health_check, outlier_detection,
// least_connections and etcd:, parsed, defaulted and refused with the path
// and the value named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "discovery/config_file.h"
#include "discovery/service_json.h"

namespace {

using ::testing::HasSubstr;

hl::Config parse_ok(const std::string& yaml) {
    auto r = hl::parse_config(yaml, {});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what()) << "\n--- yaml:\n" << yaml;
    return r.ok() ? r.value() : hl::Config{};
}

std::string parse_error(const std::string& yaml) {
    auto r = hl::parse_config(yaml, {});
    EXPECT_FALSE(r.ok()) << "accepted:\n" << yaml;
    return r.ok() ? std::string() : r.error().what();
}

std::string service(const std::string& extra, const std::string& protocol = "tcp") {
    return "services:\n"
           "  - name: web\n"
           "    port: 80\n"
           "    protocol: " +
           protocol + "\n" + extra +
           "    backends:\n"
           "      - { address: 10.0.0.1, port: 8080 }\n";
}

TEST(ConfigHealth, DesignExampleParses) {
    auto c = parse_ok(R"(
etcd:
  endpoints: [ "http://127.0.0.1:2379" ]
  prefix: /hopless
  host: host-a
  lease_ttl: 10
services:
  - name: web
    port: 80
    algorithm: least_connections
    connect_timeout: 2
    prefer: local
    health_check:
      { protocol: http, path: /healthz, interval: 2, timeout: 1, healthy_threshold: 2,
        unhealthy_threshold: 2, netns: blue }
    outlier_detection:
      { consecutive_failures: 5, base_ejection_time: 30, max_ejection_percent: 50 }
    backends:
      - { address: 10.200.0.11, port: 8080 }
)");
    ASSERT_EQ(c.services.size(), 1u);
    const auto& s = c.services[0];
    EXPECT_EQ(s.algorithm, hl::Algorithm::LeastConnections);
    EXPECT_EQ(s.connect_timeout_ms, 2000u);
    EXPECT_EQ(s.prefer, hl::Prefer::Local);
    ASSERT_TRUE(s.health_check);
    EXPECT_EQ(s.health_check->protocol, hl::HealthProtocol::Http);
    EXPECT_EQ(s.health_check->path, "/healthz");
    EXPECT_EQ(s.health_check->interval_ms, 2000u);
    EXPECT_EQ(s.health_check->timeout_ms, 1000u);
    EXPECT_EQ(s.health_check->netns, "blue");
    ASSERT_TRUE(s.outlier_detection);
    EXPECT_EQ(s.outlier_detection->consecutive_failures, 5u);
    EXPECT_EQ(s.outlier_detection->base_ejection_time_ms, 30000u);
    EXPECT_EQ(s.outlier_detection->max_ejection_percent, 50);
    ASSERT_TRUE(c.etcd);
    EXPECT_EQ(c.etcd->endpoints, std::vector<std::string>{"http://127.0.0.1:2379"});
    EXPECT_EQ(c.etcd->host, "host-a");
    EXPECT_EQ(c.etcd->lease_ttl_s, 10u);
}

TEST(ConfigHealth, DefaultsWhenLeftOut) {
    auto c = parse_ok(service("    health_check: {}\n    outlier_detection: {}\n"));
    const auto& s = c.services[0];
    EXPECT_EQ(s.connect_timeout_ms, 0u);
    EXPECT_EQ(s.prefer, hl::Prefer::Any);
    ASSERT_TRUE(s.health_check);
    EXPECT_EQ(*s.health_check, hl::HealthCheck{});
    ASSERT_TRUE(s.outlier_detection);
    EXPECT_EQ(*s.outlier_detection, hl::OutlierDetection{});
    EXPECT_FALSE(parse_ok(service("")).services[0].health_check);
    EXPECT_FALSE(parse_ok("services: []\n").etcd);
}

TEST(ConfigHealth, SecondsTakeDecimals) {
    EXPECT_EQ(parse_ok(service("    connect_timeout: 0.5\n")).services[0].connect_timeout_ms, 500u);
    EXPECT_EQ(parse_ok(service("    connect_timeout: 1.25\n")).services[0].connect_timeout_ms, 1250u);
    for (const char* bad : {"0", "0.05", "601", "1.2345", "1.", ".5", "-1", "fast", "1e3"}) {
        SCOPED_TRACE(bad);
        EXPECT_THAT(parse_error(service(std::string("    connect_timeout: ") + bad + "\n")),
                    HasSubstr("services[0].connect_timeout: '" + std::string(bad) + "' is not seconds (0.1-600)"));
    }
}

TEST(ConfigHealth, BadValuesNamed) {
    EXPECT_THAT(parse_error(service("    prefer: nearest\n")), HasSubstr("services[0].prefer: 'nearest'"));
    EXPECT_THAT(parse_error(service("    health_check: { protocol: grpc }\n")),
                HasSubstr("services[0].health_check.protocol: 'grpc'"));
    EXPECT_THAT(parse_error(service("    health_check: { path: healthz }\n")),
                HasSubstr("services[0].health_check.path: 'healthz'"));
    EXPECT_THAT(parse_error(service("    health_check: { unhealthy_threshold: 0 }\n")),
                HasSubstr("services[0].health_check.unhealthy_threshold: '0'"));
    EXPECT_THAT(parse_error(service("    health_check: { netns: a/b }\n")),
                HasSubstr("services[0].health_check.netns: 'a/b'"));
    EXPECT_THAT(parse_error(service("    health_check: { interval: 1, timeout: 2 }\n")),
                HasSubstr("services[0].health_check.timeout: 2000 ms is longer than its interval"));
    EXPECT_THAT(parse_error(service("    health_check: { every: 2 }\n")),
                HasSubstr("services[0].health_check.every: unknown key"));
    EXPECT_THAT(parse_error(service("    outlier_detection: { max_ejection_percent: 101 }\n")),
                HasSubstr("services[0].outlier_detection.max_ejection_percent: '101'"));
    EXPECT_THAT(parse_error(service("    outlier_detection: { base_ejection_time: 301 }\n")),
                HasSubstr("services[0].outlier_detection.base_ejection_time: '301'"));
}

TEST(ConfigHealth, TcpOnlyOptionsRefusedOnUdp) {
    EXPECT_THAT(parse_error(service("    algorithm: least_connections\n", "udp")),
                HasSubstr("services[0].algorithm: 'least_connections' counts TCP connections"));
    EXPECT_THAT(parse_error(service("    connect_timeout: 2\n", "udp")), HasSubstr("services[0].connect_timeout"));
    EXPECT_THAT(parse_error(service("    health_check: {}\n", "udp")), HasSubstr("services[0].health_check"));
}

TEST(ConfigEtcd, BadValuesNamed) {
    EXPECT_THAT(parse_error("etcd: { prefix: /x }\nservices: []\n"), HasSubstr("etcd.endpoints: missing"));
    EXPECT_THAT(parse_error("etcd: { endpoints: [] }\nservices: []\n"), HasSubstr("etcd.endpoints: needs at least one"));
    EXPECT_THAT(parse_error("etcd: { endpoints: [a], prefix: hopless }\nservices: []\n"),
                HasSubstr("etcd.prefix: 'hopless'"));
    EXPECT_THAT(parse_error("etcd: { endpoints: [a], host: 'a b' }\nservices: []\n"), HasSubstr("etcd.host: 'a b'"));
    EXPECT_THAT(parse_error("etcd: { endpoints: [a], lease_ttl: 1 }\nservices: []\n"), HasSubstr("etcd.lease_ttl: '1'"));
    EXPECT_THAT(parse_error("etcd: { endpoints: [a], ttl: 5 }\nservices: []\n"), HasSubstr("etcd.ttl: unknown key"));
    // Each endpoint is a URL the client can dial, checked when the config loads.
    EXPECT_THAT(parse_error("etcd: { endpoints: [ 'http://127.0.0.1:2379', 'https://10.0.0.1' ] }\nservices: []\n"),
                HasSubstr("etcd.endpoints[1]: etcd endpoint 'https://10.0.0.1': https is not supported"));
    EXPECT_THAT(parse_error("etcd: { endpoints: [ 'http://10.0.0.1:99999' ] }\nservices: []\n"),
                HasSubstr("etcd.endpoints[0]: etcd endpoint 'http://10.0.0.1:99999': port out of range"));
    EXPECT_THAT(parse_error("etcd: { endpoints: [ 'http://fd00::1:2379' ] }\nservices: []\n"),
                HasSubstr("etcd.endpoints[0]: etcd endpoint 'http://fd00::1:2379': an IPv6 address needs brackets"));
}

TEST(ConfigHealth, RoundTripsThroughJson) {
    auto c = parse_ok(service(
        "    algorithm: least_connections\n    connect_timeout: 0.25\n    prefer: local\n"
        "    health_check: { protocol: http, path: /h, interval: 0.5, timeout: 0.2, netns: blue }\n"
        "    outlier_detection: { consecutive_failures: 3, base_ejection_time: 1.5, max_ejection_percent: 100 }\n"));
    const auto& s = c.services[0];
    std::string text = hl::service_to_json(s).dump();
    auto back = hl::parse_service_item(text);
    ASSERT_TRUE(back.ok()) << text << ": " << back.error().what();
    EXPECT_EQ(*back, s) << text;
}

TEST(ConfigHealth, BoxedCopiesAndComparesByValue) {
    hl::Service a;
    a.health_check = hl::HealthCheck{};
    hl::Service b = a;
    EXPECT_EQ(a, b);
    EXPECT_NE(a.health_check.get(), b.health_check.get());
    hl::HealthCheck other;
    other.path = "/x";
    b.health_check = other;
    EXPECT_NE(a, b);
    b.health_check.reset();
    EXPECT_NE(a, b);
    a.health_check.reset();
    EXPECT_EQ(a, b);
}

}  // namespace
