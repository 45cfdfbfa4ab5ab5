// hl::parse_config: the YAML config (DESIGN.md "Config") to a validated
// Config, accepted whole or rejected whole with every problem named by its
// path in the document and its value.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "discovery/config_file.h"

namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

const char* kDesignExample = R"(
pin_dir: /sys/fs/bpf/hopless
vip_pool: 127.255.0.0/16          # VIPs are allocated from here when a service names none
metrics: { listen: 127.0.0.1:9464 }
control: { socket: /run/hopless/hopless.sock }
attach:                           # cgroups whose tasks are clients (ECS: "client side")
  - { cgroup: /sys/fs/cgroup/unified/tasks/client, namespace: default }
services:
  - name: web
    namespace: default
    vip: 127.255.0.1
    port: 80
    protocol: tcp                 # tcp | udp
    algorithm: round_robin        # random | round_robin | weighted
    backends:
      - { address: 10.200.0.11, port: 8080, weight: 1 }
      - { address: "fd00::12", port: 8080 }
)";

hl::IpAddress ip(const char* s) { return *hl::IpAddress::parse(s); }

hl::Config parse_ok(const std::string& yaml, const hl::CgroupCheck& check = {}) {
    auto r = hl::parse_config(yaml, check);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what()) << "\n--- yaml:\n" << yaml;
    return r.ok() ? r.value() : hl::Config{};
}

std::string parse_error(const std::string& yaml, const hl::CgroupCheck& check = {}) {
    auto r = hl::parse_config(yaml, check);
    EXPECT_FALSE(r.ok()) << "accepted:\n" << yaml;
    return r.ok() ? std::string() : r.error().what();
}

// A valid service with one backend, into which a test splices one line.
std::string one_service(const std::string& service_extra, const std::string& backend_extra = "") {
    return "services:\n"
           "  - name: web\n"
           "    port: 80\n" +
           service_extra +
           "    backends:\n"
           "      - address: 10.0.0.1\n"
           "        port: 8080\n" +
           backend_extra;
}

TEST(ConfigFile, DesignExampleParses) {
    hl::Config c = parse_ok(kDesignExample);
    EXPECT_EQ(c.pin_dir, "/sys/fs/bpf/hopless");
    EXPECT_EQ(c.vip_pool.to_string(), "127.255.0.0/16");
    EXPECT_EQ(c.metrics_listen, "127.0.0.1:9464");
    EXPECT_EQ(c.control_socket, "/run/hopless/hopless.sock");
    ASSERT_EQ(c.attach.size(), 1u);
    EXPECT_EQ(c.attach[0].cgroup, "/sys/fs/cgroup/unified/tasks/client");
    EXPECT_EQ(c.attach[0].ns, "default");
    ASSERT_EQ(c.services.size(), 1u);
    const hl::Service& s = c.services[0];
    EXPECT_EQ(s.name, "web");
    EXPECT_EQ(s.ns, "default");
    ASSERT_TRUE(s.vip);
    EXPECT_EQ(*s.vip, ip("127.255.0.1"));
    EXPECT_EQ(s.port, 80);
    EXPECT_EQ(s.protocol, hl::Protocol::Tcp);
    EXPECT_EQ(s.algorithm, hl::Algorithm::RoundRobin);
    ASSERT_EQ(s.backends.size(), 2u);
    EXPECT_EQ(s.backends[0].address, ip("10.200.0.11"));
    EXPECT_EQ(s.backends[0].port, 8080);
    EXPECT_EQ(s.backends[0].weight, 1);
    EXPECT_EQ(s.backends[1].address, ip("fd00::12"));
    EXPECT_FALSE(s.backends[1].address.is_v4());
    EXPECT_EQ(s.backends[1].port, 8080);
}

TEST(ConfigFile, DefaultsForEverythingOptional) {
    hl::Config c = parse_ok(R"(
services:
  - name: web
    port: 80
    backends:
      - { address: 10.0.0.1, port: 8080 }
)");
    EXPECT_EQ(c.pin_dir, "/sys/fs/bpf/hopless");
    EXPECT_EQ(c.vip_pool.to_string(), "127.255.0.0/16");
    EXPECT_EQ(c.metrics_listen, "127.0.0.1:9464");
    EXPECT_EQ(c.control_socket, "/run/hopless/hopless.sock");
    EXPECT_EQ(c.maps.max_services, 65536u);
    EXPECT_EQ(c.maps.max_backends, 262144u);
    EXPECT_TRUE(c.attach.empty());
    ASSERT_EQ(c.services.size(), 1u);
    const hl::Service& s = c.services[0];
    EXPECT_EQ(s.ns, "default");
    EXPECT_FALSE(s.vip) << "no vip: allocated later from vip_pool";
    EXPECT_EQ(s.protocol, hl::Protocol::Tcp);
    EXPECT_EQ(s.algorithm, hl::Algorithm::RoundRobin);
    EXPECT_EQ(s.affinity_timeout_s, 0u);
    EXPECT_EQ(s.drain_timeout_s, 0u);
    ASSERT_EQ(s.backends.size(), 1u);
    EXPECT_EQ(s.backends[0].weight, 1);
    EXPECT_EQ(s.backends[0].state, hl::BackendState::Active);
}

TEST(ConfigFile, AttachNamespaceDefaults) {
    hl::Config c = parse_ok("attach:\n  - cgroup: tasks/a\nservices: []\n");
    ASSERT_EQ(c.attach.size(), 1u);
    EXPECT_EQ(c.attach[0].cgroup, "tasks/a");  // relative to the cgroup v2 mount
    EXPECT_EQ(c.attach[0].ns, "default");
}

TEST(ConfigFile, EveryOptionalKeySet) {
    hl::Config c = parse_ok(R"(
pin_dir: /sys/fs/bpf/other
vip_pool: 10.96.0.0/12
metrics: { listen: "[::1]:9000" }
control: { socket: /tmp/h.sock }
maps: { max_services: 1024, max_backends: 4096 }
attach:
  - { cgroup: /sys/fs/cgroup/a, namespace: prod }
services:
  - name: dns
    namespace: prod
    vip: 10.96.0.10
    port: 53
    protocol: udp
    algorithm: weighted
    affinity: { timeout: 300 }
    drain_timeout: 30
    backends:
      - { address: 10.0.0.1, port: 53, weight: 3, state: active }
      - { address: 10.0.0.2, port: 53, weight: 0, state: draining }
  - name: rnd
    port: 1
    algorithm: random
)");
    EXPECT_EQ(c.pin_dir, "/sys/fs/bpf/other");
    EXPECT_EQ(c.vip_pool.to_string(), "10.96.0.0/12");
    EXPECT_EQ(c.metrics_listen, "[::1]:9000");
    EXPECT_EQ(c.control_socket, "/tmp/h.sock");
    EXPECT_EQ(c.maps.max_services, 1024u);
    EXPECT_EQ(c.maps.max_backends, 4096u);
    EXPECT_EQ(c.attach[0].ns, "prod");
    ASSERT_EQ(c.services.size(), 2u);
    const hl::Service& s = c.services[0];
    EXPECT_EQ(s.ns, "prod");
    EXPECT_EQ(s.protocol, hl::Protocol::Udp);
    EXPECT_EQ(s.algorithm, hl::Algorithm::Weighted);
    EXPECT_EQ(s.affinity_timeout_s, 300u);
    EXPECT_EQ(s.drain_timeout_s, 30u);
    EXPECT_EQ(s.backends[0].weight, 3);
    EXPECT_EQ(s.backends[1].weight, 0);
    EXPECT_EQ(s.backends[1].state, hl::BackendState::Draining);
    EXPECT_EQ(c.services[1].algorithm, hl::Algorithm::Random);
    EXPECT_TRUE(c.services[1].backends.empty()) << "a service without backends refuses connects; it is valid";
}

TEST(ConfigFile, Ipv6BackendWithAndWithoutBrackets) {
    hl::Config c = parse_ok(R"(
services:
  - name: web
    vip: "[fd00::80]"
    port: 80
    backends:
      - address: fd00::12
        port: 8080
      - address: "[fd00::13]"
        port: 8080
      - { address: "fd00::14", port: 8080 }
)");
    ASSERT_EQ(c.services.size(), 1u);
    const auto& bs = c.services[0].backends;
    ASSERT_EQ(bs.size(), 3u);
    EXPECT_EQ(bs[0].address, ip("fd00::12"));
    EXPECT_EQ(bs[1].address, ip("fd00::13"));
    EXPECT_EQ(bs[2].address, ip("fd00::14"));
    EXPECT_EQ(*c.services[0].vip, ip("fd00::80"));
}

TEST(ConfigFile, EmptyServicesListIsValid) {
    EXPECT_TRUE(parse_ok("services: []\n").services.empty());
    EXPECT_TRUE(parse_ok("services:\n").services.empty());
}

// ---- errors: each names the field path and the offending value.

TEST(ConfigFile, YamlSyntaxErrorNamesTheLine) {
    std::string e = parse_error("services:\n  - name: web\n    port: [80\n    backends: []\n");
    EXPECT_THAT(e, HasSubstr("YAML"));
    EXPECT_THAT(e, AnyOf(HasSubstr("line 3"), HasSubstr("line 4"), HasSubstr("line 5")));

    std::string tab = parse_error("services:\n  - name: web\n\t port: 80\n");
    EXPECT_THAT(tab, HasSubstr("line 3"));
}

TEST(ConfigFile, EmptyFileIsMissingServices) {
    EXPECT_THAT(parse_error(""), HasSubstr("services: missing"));
    EXPECT_THAT(parse_error("# only a comment\n"), HasSubstr("services: missing"));
    EXPECT_THAT(parse_error("pin_dir: /sys/fs/bpf/x\n"), HasSubstr("services: missing"));
}

TEST(ConfigFile, TopLevelMustBeAMapping) {
    EXPECT_THAT(parse_error("- a\n- b\n"), HasSubstr("expected a mapping, got a list"));
    EXPECT_THAT(parse_error("services: web\n"), AllOf(HasSubstr("services"), HasSubstr("expected a list")));
}

TEST(ConfigFile, UnknownTopLevelKey) {
    std::string e = parse_error("services: []\nvip_poll: 10.0.0.0/8\n");
    EXPECT_THAT(e, HasSubstr("vip_poll: unknown key"));
    EXPECT_THAT(e, HasSubstr("vip_pool")) << "lists the keys it expected";
}

TEST(ConfigFile, KeyGivenTwiceIsAnErrorNotALastWins) {
    // YAML says keys are unique; a second `port:` must not silently win.
    EXPECT_THAT(parse_error(one_service("    port: 81\n")), HasSubstr("services[0].port: key given twice"));
    EXPECT_THAT(parse_error("services: []\nservices: []\n"), HasSubstr("services: key given twice"));
    EXPECT_THAT(parse_error(one_service("", "        weight: 2\n        weight: 3\n")),
                HasSubstr("services[0].backends[0].weight: key given twice"));
}

TEST(ConfigFile, UnknownKeyInService) {
    EXPECT_THAT(parse_error(one_service("    weight: 3\n")), HasSubstr("services[0].weight: unknown key"));
}

TEST(ConfigFile, UnknownKeyInBackend) {
    EXPECT_THAT(parse_error(one_service("", "        healthcheck: /ping\n")),
                HasSubstr("services[0].backends[0].healthcheck: unknown key"));
}

TEST(ConfigFile, UnknownKeyInAttach) {
    EXPECT_THAT(parse_error("attach:\n  - { cgroup: /sys/fs/cgroup/a, ns: prod }\nservices: []\n"),
                HasSubstr("attach[0].ns: unknown key"));
}

TEST(ConfigFile, UnknownKeyInNestedMappings) {
    EXPECT_THAT(parse_error("metrics: { listen: 127.0.0.1:1, path: /m }\nservices: []\n"),
                HasSubstr("metrics.path: unknown key"));
    EXPECT_THAT(parse_error("maps: { max_slots: 100 }\nservices: []\n"), HasSubstr("maps.max_slots: unknown key"));
    EXPECT_THAT(parse_error(one_service("    affinity: { timeout: 10, mode: ip }\n")),
                HasSubstr("services[0].affinity.mode: unknown key"));
}

TEST(ConfigFile, BadBackendAddress) {
    std::string yaml = "services:\n  - name: web\n    port: 80\n    backends:\n"
                       "      - { address: 10.0.0.1, port: 1 }\n"
                       "      - { address: 10.0.0.256, port: 1 }\n";
    EXPECT_THAT(parse_error(yaml), HasSubstr("services[0].backends[1].address: '10.0.0.256'"));
    EXPECT_THAT(parse_error(one_service("    vip: web.local\n")), HasSubstr("services[0].vip: 'web.local'"));
    EXPECT_THAT(parse_error("services:\n  - { name: web, port: 80, backends: [ { address: \"fd00::zz\", port: 1 } ] }\n"),
                HasSubstr("services[0].backends[0].address: 'fd00::zz'"));
}

TEST(ConfigFile, BadPorts) {
    for (const char* bad : {"0", "65536", "abc", "-1", "80.5", "99999999999999999999999"}) {
        SCOPED_TRACE(bad);
        std::string svc = "services:\n  - name: web\n    port: " + std::string(bad) + "\n";
        EXPECT_THAT(parse_error(svc), HasSubstr("services[0].port: '" + std::string(bad) + "'"));
        std::string be = "services:\n  - name: web\n    port: 80\n    backends:\n      - { address: 10.0.0.1, port: " +
                         std::string(bad) + " }\n";
        EXPECT_THAT(parse_error(be), HasSubstr("services[0].backends[0].port: '" + std::string(bad) + "'"));
    }
    EXPECT_THAT(parse_error("services:\n  - name: web\n    port: [80]\n"),
                AllOf(HasSubstr("services[0].port"), HasSubstr("a list")));
    // Both ends of the range are fine.
    parse_ok("services:\n  - { name: a, port: 1 }\n  - { name: b, port: 65535 }\n");
}

TEST(ConfigFile, BadWeight) {
    for (const char* bad : {"65536", "-1", "heavy", "1.5"}) {
        SCOPED_TRACE(bad);
        EXPECT_THAT(parse_error(one_service("", std::string("        weight: ") + bad + "\n")),
                    HasSubstr("services[0].backends[0].weight: '" + std::string(bad) + "'"));
    }
    EXPECT_EQ(parse_ok(one_service("", "        weight: 65535\n")).services[0].backends[0].weight, 65535);
}

TEST(ConfigFile, BadProtocolAlgorithmState) {
    EXPECT_THAT(parse_error(one_service("    protocol: sctp\n")), HasSubstr("services[0].protocol: 'sctp'"));
    EXPECT_THAT(parse_error(one_service("    protocol: TCP\n")), HasSubstr("services[0].protocol: 'TCP'"));
    EXPECT_THAT(parse_error(one_service("    algorithm: least_conn\n")),
                HasSubstr("services[0].algorithm: 'least_conn'"));
    EXPECT_THAT(parse_error(one_service("", "        state: sleeping\n")),
                HasSubstr("services[0].backends[0].state: 'sleeping'"));
}

TEST(ConfigFile, QuarantinedIsTheDaemonsToSetNotTheConfigs) {
    EXPECT_THAT(parse_error(one_service("", "        state: quarantined\n")),
                HasSubstr("services[0].backends[0].state: 'quarantined'"));
}

TEST(ConfigFile, DuplicateVipPortProtocolInOneNamespace) {
    std::string e = parse_error(R"(
services:
  - { name: a, vip: 127.255.0.1, port: 80 }
  - { name: b, vip: 127.255.0.1, port: 80 }
)");
    EXPECT_THAT(e, HasSubstr("services[1].vip: 127.255.0.1:80/tcp"));
    EXPECT_THAT(e, HasSubstr("services[0]"));
    // v4 written v4-mapped is the same VIP.
    EXPECT_THAT(parse_error(R"(
services:
  - { name: a, vip: 127.255.0.1, port: 80 }
  - { name: b, vip: "::ffff:127.255.0.1", port: 80 }
)"),
                HasSubstr("services[1].vip"));
}

TEST(ConfigFile, SameVipPortAllowedAcrossNamespacesAndProtocols) {
    hl::Config c = parse_ok(R"(
services:
  - { name: a, vip: 127.255.0.1, port: 80 }
  - { name: a, namespace: other, vip: 127.255.0.1, port: 80 }
  - { name: dns, vip: 127.255.0.1, port: 80, protocol: udp }
  - { name: b, vip: 127.255.0.1, port: 81 }
)");
    EXPECT_EQ(c.services.size(), 4u);
}

TEST(ConfigFile, DuplicateServiceNameInOneNamespace) {
    std::string e = parse_error(R"(
services:
  - { name: web, port: 80 }
  - { name: web, port: 81 }
)");
    EXPECT_THAT(e, HasSubstr("services[1].name"));
    EXPECT_THAT(e, HasSubstr("'web'"));
}

TEST(ConfigFile, DuplicateBackend) {
    std::string e = parse_error(R"(
services:
  - name: web
    port: 80
    backends:
      - { address: 10.0.0.1, port: 8080 }
      - { address: 10.0.0.2, port: 8080 }
      - { address: 10.0.0.1, port: 8080, weight: 5 }
)");
    EXPECT_THAT(e, HasSubstr("services[0].backends[2]"));
    EXPECT_THAT(e, HasSubstr("10.0.0.1:8080"));
    // Same address on another port is another backend.
    parse_ok(R"(
services:
  - name: web
    port: 80
    backends:
      - { address: 10.0.0.1, port: 8080 }
      - { address: 10.0.0.1, port: 8081 }
)");
}

TEST(ConfigFile, BackendThatIsTheServicesOwnVip) {
    EXPECT_THAT(parse_error(R"(
services:
  - name: web
    vip: 127.255.0.1
    port: 80
    backends: [ { address: 127.255.0.1, port: 8080 } ]
)"),
                HasSubstr("services[0].backends[0].address: 127.255.0.1"));
}

TEST(ConfigFile, MissingServicesNameAndPort) {
    EXPECT_THAT(parse_error("vip_pool: 127.255.0.0/16\n"), HasSubstr("services: missing"));
    EXPECT_THAT(parse_error("services:\n  - port: 80\n"), HasSubstr("services[0].name: missing"));
    EXPECT_THAT(parse_error("services:\n  - name: web\n"), HasSubstr("services[0].port: missing"));
    EXPECT_THAT(parse_error("services:\n  - name: web\n    port: 80\n    backends:\n      - port: 1\n"),
                HasSubstr("services[0].backends[0].address: missing"));
    EXPECT_THAT(parse_error("services:\n  - name: web\n    port: 80\n    backends:\n      - address: 10.0.0.1\n"),
                HasSubstr("services[0].backends[0].port: missing"));
    EXPECT_THAT(parse_error("attach:\n  - namespace: x\nservices: []\n"), HasSubstr("attach[0].cgroup: missing"));
}

TEST(ConfigFile, BadNames) {
    EXPECT_THAT(parse_error("services:\n  - { name: 'my web', port: 80 }\n"),
                HasSubstr("services[0].name: 'my web'"));
    EXPECT_THAT(parse_error("services:\n  - { name: web, namespace: 'a/b', port: 80 }\n"),
                HasSubstr("services[0].namespace: 'a/b'"));
    EXPECT_THAT(parse_error("services:\n  - { name: " + std::string(64, 'x') + ", port: 80 }\n"),
                HasSubstr("services[0].name"));
    EXPECT_THAT(parse_error("attach:\n  - { cgroup: /a, namespace: 'no way' }\nservices: []\n"),
                HasSubstr("attach[0].namespace: 'no way'"));
}

TEST(ConfigFile, BadVipPool) {
    for (const char* bad : {"127.255.0.0", "127.255.0.0/33", "pool", "127.255.0.0/x"}) {
        SCOPED_TRACE(bad);
        EXPECT_THAT(parse_error("vip_pool: " + std::string(bad) + "\nservices: []\n"),
                    HasSubstr("vip_pool: '" + std::string(bad) + "'"));
    }
}

TEST(ConfigFile, BadMetricsListen) {
    for (const char* bad : {"9464", "127.0.0.1", "localhost:9464", "127.0.0.1:http", "127.0.0.1:65536", ":9464"}) {
        SCOPED_TRACE(bad);
        EXPECT_THAT(parse_error("metrics: { listen: \"" + std::string(bad) + "\" }\nservices: []\n"),
                    HasSubstr("metrics.listen: '" + std::string(bad) + "'"));
    }
}

TEST(ConfigFile, BadPinDir) {
    EXPECT_THAT(parse_error("pin_dir: sys/fs/bpf\nservices: []\n"), HasSubstr("pin_dir: 'sys/fs/bpf'"));
}

TEST(ConfigFile, AffinityTimeout) {
    EXPECT_EQ(parse_ok(one_service("    affinity: { timeout: 60 }\n")).services[0].affinity_timeout_s, 60u);
    EXPECT_THAT(parse_error(one_service("    affinity: { timeout: 0 }\n")),
                HasSubstr("services[0].affinity.timeout: '0'"));
    EXPECT_THAT(parse_error(one_service("    affinity: { timeout: 1h }\n")),
                HasSubstr("services[0].affinity.timeout: '1h'"));
    EXPECT_THAT(parse_error(one_service("    affinity: { timeout: 604801 }\n")),
                HasSubstr("services[0].affinity.timeout: '604801'"));
    EXPECT_THAT(parse_error(one_service("    affinity: {}\n")), HasSubstr("services[0].affinity.timeout: missing"));
    EXPECT_THAT(parse_error(one_service("    affinity: 60\n")),
                AllOf(HasSubstr("services[0].affinity"), HasSubstr("'60'")));
}

TEST(ConfigFile, DrainTimeout) {
    EXPECT_EQ(parse_ok(one_service("    drain_timeout: 0\n")).services[0].drain_timeout_s, 0u);
    EXPECT_THAT(parse_error(one_service("    drain_timeout: -5\n")), HasSubstr("services[0].drain_timeout: '-5'"));
    EXPECT_THAT(parse_error(one_service("    drain_timeout: 10s\n")), HasSubstr("services[0].drain_timeout: '10s'"));
    EXPECT_THAT(parse_error(one_service("    drain_timeout: 604801\n")),
                HasSubstr("services[0].drain_timeout: '604801'"));
}

TEST(ConfigFile, MapSizes) {
    EXPECT_THAT(parse_error("maps: { max_services: 8 }\nservices: []\n"), HasSubstr("maps.max_services: '8'"));
    EXPECT_THAT(parse_error("maps: { max_backends: lots }\nservices: []\n"),
                HasSubstr("maps.max_backends: 'lots'"));
    EXPECT_THAT(parse_error("maps: { max_backends: 99999999999 }\nservices: []\n"),
                HasSubstr("maps.max_backends: '99999999999'"));
}

TEST(ConfigFile, MoreServicesOrBackendsThanTheMapsHold) {
    // max_services and max_backends are how many fit: 16 do, 17 do not.
    std::string many = "maps: { max_services: 16, max_backends: 16 }\nservices:\n";
    for (int i = 0; i < 16; ++i) many += "  - { name: s" + std::to_string(i) + ", port: 80 }\n";
    parse_ok(many);
    many += "  - { name: s16, port: 80 }\n";
    EXPECT_THAT(parse_error(many), HasSubstr("17 services do not fit maps.max_services=16"));

    std::string backends = "maps: { max_backends: 16 }\nservices:\n  - name: web\n    port: 80\n    backends:\n";
    for (int i = 0; i < 16; ++i) backends += "      - { address: 10.0.0." + std::to_string(i + 1) + ", port: 1 }\n";
    parse_ok(backends);
    backends += "      - { address: 10.0.0.17, port: 1 }\n";
    EXPECT_THAT(parse_error(backends), HasSubstr("17 backends do not fit maps.max_backends=16"));
}

TEST(ConfigFile, CgroupRejectedByTheCheckNamesFieldAndPath) {
    hl::CgroupCheck check = [](const std::string& path) -> std::optional<std::string> {
        if (path == "/sys/fs/cgroup/ok") return std::nullopt;
        return std::string("does not exist");
    };
    std::string e = parse_error(R"(
attach:
  - { cgroup: /sys/fs/cgroup/ok }
  - { cgroup: /sys/fs/cgroup/gone, namespace: prod }
services: []
)",
                                check);
    EXPECT_THAT(e, HasSubstr("attach[1].cgroup: '/sys/fs/cgroup/gone' does not exist"));
    EXPECT_THAT(e, Not(HasSubstr("attach[0]")));
    // The same file with a check that accepts it is fine, and without a check too.
    parse_ok("attach:\n  - { cgroup: /sys/fs/cgroup/ok }\nservices: []\n", check);
    parse_ok("attach:\n  - { cgroup: /sys/fs/cgroup/gone }\nservices: []\n");
}

TEST(ConfigFile, TheCheckSeesEveryCgroupAsWritten) {
    std::vector<std::string> seen;
    hl::CgroupCheck check = [&](const std::string& path) -> std::optional<std::string> {
        seen.push_back(path);
        return std::nullopt;
    };
    parse_ok("attach:\n  - { cgroup: tasks/a }\n  - { cgroup: /sys/fs/cgroup/b }\nservices: []\n", check);
    EXPECT_EQ(seen, (std::vector<std::string>{"tasks/a", "/sys/fs/cgroup/b"}));
}

TEST(ConfigFile, SameCgroupAttachedTwice) {
    EXPECT_THAT(parse_error("attach:\n  - { cgroup: /a }\n  - { cgroup: /a, namespace: x }\nservices: []\n"),
                HasSubstr("attach[1].cgroup: '/a'"));
}

TEST(ConfigFile, AllProblemsInOneFileAreReported) {
    std::string e = parse_error(R"(
colour: blue
vip_pool: nowhere
services:
  - name: web
    port: 0
    protocol: sctp
    backends:
      - { address: 10.0.0.1, port: 8080, weight: -2 }
      - { address: banana, port: 8080 }
  - name: api
    port: 80
    algorithm: fastest
attach:
  - { cgroup: /x, extra: 1 }
)");
    for (const char* want :
         {"colour: unknown key", "vip_pool: 'nowhere'", "services[0].port: '0'", "services[0].protocol: 'sctp'",
          "services[0].backends[0].weight: '-2'", "services[0].backends[1].address: 'banana'",
          "services[1].algorithm: 'fastest'", "attach[0].extra: unknown key"})
        EXPECT_THAT(e, HasSubstr(want));
}

TEST(ConfigFile, ProblemsAreReportedInTheOrderOfTheSchema) {
    // services: is read as it streams, before attach:; its problems still
    // come after those of the keys read before it.
    std::string e = parse_error("services:\n  - { name: web, port: 0 }\nattach:\n  - { extra: 1 }\n");
    EXPECT_LT(e.find("attach[0].extra"), e.find("services[0].port")) << e;
}

TEST(ConfigFile, AnchorsAndAliasesAcrossServices) {
    auto c = parse_ok(R"(
services:
  - { name: a, port: 80, backends: &pool [ { address: 10.0.0.1, port: 8080 }, { address: 10.0.0.2, port: 8080 } ] }
  - { name: b, port: 81, backends: *pool }
)");
    ASSERT_EQ(c.services.size(), 2u);
    EXPECT_EQ(c.services[1].backends, c.services[0].backends);
    EXPECT_THAT(parse_error("base: &s [ { name: a, port: 80 } ]\nservices: *s\n"), HasSubstr("base: unknown key"));
}

TEST(ConfigFile, AllValidationProblemsAreReported) {
    std::string e = parse_error(R"(
services:
  - { name: a, vip: 127.255.0.1, port: 80 }
  - { name: a, vip: 127.255.0.1, port: 80 }
  - name: c
    port: 80
    backends:
      - { address: 10.0.0.1, port: 1 }
      - { address: 10.0.0.1, port: 1 }
      - { address: 10.0.0.2, port: 1 }
      - { address: 10.0.0.2, port: 1 }
)");
    EXPECT_THAT(e, HasSubstr("services[1].name"));
    EXPECT_THAT(e, HasSubstr("services[1].vip"));
    EXPECT_THAT(e, HasSubstr("services[2].backends[1]"));
    EXPECT_THAT(e, HasSubstr("services[2].backends[3]"));
}

TEST(ConfigFile, WrongShapesAreErrorsNotCrashes) {
    EXPECT_THAT(parse_error("services:\n  - web\n"), AllOf(HasSubstr("services[0]"), HasSubstr("'web'")));
    EXPECT_THAT(parse_error("services:\n  - { name: web, port: 80, backends: 10.0.0.1 }\n"),
                AllOf(HasSubstr("services[0].backends"), HasSubstr("'10.0.0.1'")));
    EXPECT_THAT(parse_error("services:\n  - { name: [a, b], port: 80 }\n"),
                AllOf(HasSubstr("services[0].name"), HasSubstr("a list")));
    EXPECT_THAT(parse_error("services:\n  - { name: web, port: 80, backends: [ 10.0.0.1 ] }\n"),
                HasSubstr("services[0].backends[0]"));
    EXPECT_THAT(parse_error("attach: /sys/fs/cgroup/a\nservices: []\n"), HasSubstr("attach"));
    EXPECT_THAT(parse_error("metrics: 127.0.0.1:9464\nservices: []\n"), HasSubstr("metrics"));
}

TEST(ConfigFile, LoadConfigFileNamesTheFile) {
    auto r = hl::load_config_file("/nonexistent/hopless.yaml");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().what(), HasSubstr("/nonexistent/hopless.yaml"));
}

}  // namespace
