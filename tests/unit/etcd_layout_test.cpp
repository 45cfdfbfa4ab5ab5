// The etcd key layout and endpoint values: what other hosts wrote is parsed
// strictly, and what this host writes parses back to itself.
#include <gtest/gtest.h>

#include "discovery/etcd_layout.h"

namespace {

using namespace hl::etcd_layout;

TEST(EtcdLayout, KeysAreBuiltUnderThePrefixAndVersion) {
    EXPECT_EQ(root("/hopless"), "/hopless/v1/");
    EXPECT_EQ(root("/hopless/"), "/hopless/v1/");
    EXPECT_EQ(root("/"), "/v1/");
    EXPECT_EQ(service_key("/hopless", "default", "web"), "/hopless/v1/services/default/web");
    EXPECT_EQ(endpoint_key("/hopless", "default", "web", "host-a", "10.0.0.1:80"),
              "/hopless/v1/endpoints/default/web/host-a/10.0.0.1:80");
    EXPECT_EQ(endpoints_root("/x"), "/x/v1/endpoints/");
    EXPECT_EQ(host_key("/x/", "host-a"), "/x/v1/hosts/host-a");
}

TEST(EtcdLayout, KeysParseBack) {
    auto s = parse_key("/hopless", service_key("/hopless", "default", "web"));
    ASSERT_TRUE(s) << s.error().what();
    EXPECT_EQ(std::get<ServiceKey>(*s), (ServiceKey{"default", "web"}));
    auto e = parse_key("/hopless/", endpoint_key("/hopless", "ns", "web", "host.b", "[fd00::1]:8080"));
    ASSERT_TRUE(e) << e.error().what();
    EXPECT_EQ(std::get<EndpointKey>(*e), (EndpointKey{"ns", "web", "host.b", "[fd00::1]:8080"}));
    auto h = parse_key("/", host_key("/", "host-c"));
    ASSERT_TRUE(h) << h.error().what();
    EXPECT_EQ(std::get<HostKey>(*h).host, "host-c");
}

TEST(EtcdLayout, BadKeysAreNamed) {
    const char* bad[] = {
        "/other/v1/services/default/web",      // another prefix
        "/hopless/v2/services/default/web",    // another layout version
        "/hopless/v1/services/default",        // too short
        "/hopless/v1/services/default/web/x",  // too long
        "/hopless/v1/services/default/",       // empty name
        "/hopless/v1/services/de fault/web",   // not a name
        "/hopless/v1/endpoints/default/web/host-a",
        "/hopless/v1/endpoints/default/web/host-a/bad id",
        "/hopless/v1/endpoints/default/web/host-a/x/y",
        "/hopless/v1/hosts/",
        "/hopless/v1/things/x",
        "/hopless/v1/",
        "/hopless/v1/a/b/c/d/e/f/g/h/i/j",
    };
    for (const char* k : bad) {
        auto r = parse_key("/hopless", k);
        ASSERT_FALSE(r) << k;
        EXPECT_NE(r.error().what().find("etcd key"), std::string::npos) << r.error().what();
    }
}

TEST(EtcdLayout, EndpointValuesRoundTrip) {
    EndpointValue v{*hl::IpAddress::parse("10.0.0.11"), 8080, 3};
    auto back = parse_endpoint_value(endpoint_value(v));
    ASSERT_TRUE(back) << back.error().what();
    EXPECT_EQ(*back, v);
    EndpointValue v6{*hl::IpAddress::parse("fd00::12"), 80, 1};
    EXPECT_EQ(*parse_endpoint_value(endpoint_value(v6)), v6);
    // weight defaults to 1; unknown keys are a newer host's, and ignored
    auto d = parse_endpoint_value(R"({"address":"10.0.0.1","port":80,"zone":"b"})");
    ASSERT_TRUE(d) << d.error().what();
    EXPECT_EQ(d->weight, 1);
}

TEST(EtcdLayout, BadEndpointValuesNameTheField) {
    struct Case {
        const char* json;
        const char* says;
    } cases[] = {
        {"", "not JSON"},
        {"[1]", "not a JSON object"},
        {R"({"port":80})", "address"},
        {R"({"address":"nope","port":80})", "address: 'nope'"},
        {R"({"address":"10.0.0.1"})", "port"},
        {R"({"address":"10.0.0.1","port":0})", "port: 0"},
        {R"({"address":"10.0.0.1","port":65536})", "port: 65536"},
        {R"({"address":"10.0.0.1","port":80.5})", "port"},
        {R"({"address":"10.0.0.1","port":18446744073709551615})", "port"},
        {R"({"address":"10.0.0.1","port":80,"weight":-1})", "weight: -1"},
        {R"({"address":"10.0.0.1","port":80,"weight":"1"})", "weight"},
        {R"({"a":[[[[[[1]]]]]]})", "nested"},
    };
    for (const auto& c : cases) {
        auto r = parse_endpoint_value(c.json);
        ASSERT_FALSE(r) << c.json;
        EXPECT_NE(r.error().what().find(c.says), std::string::npos) << c.json << " -> " << r.error().what();
    }
    EXPECT_FALSE(parse_endpoint_value(std::string(5000, ' ')));
}

}  // namespace
