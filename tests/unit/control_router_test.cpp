// control::route(): every route of DESIGN.md "Control API" reaches its
// Handler call with the values decoded; every bad request is a 4xx whose
// error names the field and value, and calls nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/router.h"
#include "fake_control_handler.h"

namespace {

using hl::control::Reply;
using hl::control::Request;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct Routed {
    Reply reply;
    std::vector<std::string> calls;
    std::string error() const { return reply.body.value("error", std::string()); }
};

Routed call(const std::string& method, const std::string& target, const std::string& body = "",
            std::optional<uid_t> uid = 0) {
    hlt::FakeControlHandler h;
    Reply r = hl::control::route(Request{method, target, body, uid}, h);
    return {r, h.calls};
}

// A request that must be refused with `status`, an error containing
// `words`, and no call on the Handler.
void expect_refused(const std::string& method, const std::string& target, const std::string& body, unsigned status,
                    const std::string& words) {
    auto r = call(method, target, body);
    EXPECT_EQ(r.reply.status, status) << method << " " << target << " " << body << " -> " << r.reply.body.dump();
    EXPECT_THAT(r.error(), HasSubstr(words)) << method << " " << target << " " << body;
    EXPECT_THAT(r.calls, IsEmpty()) << method << " " << target << " " << body;
}

const char* kEp = "/v1/services/default/web/endpoints/";

TEST(ControlRouter, EveryRouteReachesItsCall) {
    EXPECT_THAT(call("GET", "/v1/health").calls, ElementsAre("health"));
    EXPECT_THAT(call("GET", "/v1/services").calls, ElementsAre("list_services"));
    EXPECT_THAT(call("PUT", "/v1/services/prod/web", R"({"port": 80})").calls,
                ElementsAre("put_service prod/web port=80 backends=0"));
    EXPECT_THAT(call("DELETE", "/v1/services/prod/web").calls, ElementsAre("delete_service prod/web"));
    EXPECT_THAT(call("GET", "/v1/services/prod/web/endpoints").calls, ElementsAre("list_endpoints prod/web"));
    EXPECT_THAT(call("PUT", "/v1/services/prod/web/endpoints/t1", R"({"address": "10.0.0.1", "port": 8080})").calls,
                ElementsAre("put_endpoint prod/web t1 10.0.0.1:8080 weight=1 ttl=none"));
    EXPECT_THAT(call("POST", "/v1/services/prod/web/endpoints/t1/heartbeat").calls,
                ElementsAre("heartbeat prod/web t1"));
    EXPECT_THAT(call("DELETE", "/v1/services/prod/web/endpoints/t1").calls,
                ElementsAre("delete_endpoint prod/web t1"));
    EXPECT_THAT(call("PUT", "/v1/cgroups", R"({"cgroup": "tasks/a", "namespace": "prod"})").calls,
                ElementsAre("attach_cgroup cgroup=tasks/a ns=prod"));
    EXPECT_THAT(call("PUT", "/v1/cgroups", R"({"pid": 42})").calls, ElementsAre("attach_cgroup pid=42 ns=default"));
    EXPECT_THAT(call("DELETE", "/v1/cgroups", R"({"cgroup": "/sys/fs/cgroup/x"})").calls,
                ElementsAre("detach_cgroup cgroup=/sys/fs/cgroup/x"));
    EXPECT_THAT(call("DELETE", "/v1/cgroups", R"({"pid": 7})").calls, ElementsAre("detach_cgroup pid=7"));
    EXPECT_THAT(call("GET", "/v1/health/backends").calls, ElementsAre("backend_health"));
    EXPECT_THAT(call("GET", "/v1/services/prod/web/health").calls, ElementsAre("service_health prod/web"));
}

TEST(ControlRouter, TheHandlersReplyIsTheAnswer) {
    hlt::FakeControlHandler h;
    h.answer = Reply::error(409, "id: 't1' is registered with another address");
    Reply r = hl::control::route(Request{"DELETE", "/v1/services/a/b", "", 0}, h);
    EXPECT_EQ(r.status, 409u);
    EXPECT_EQ(r.body["error"], "id: 't1' is registered with another address");
}

TEST(ControlRouter, EndpointBodyFieldsReachTheHandler) {
    EXPECT_THAT(call("PUT", std::string(kEp) + "x",
                     R"({"address": "[fd00::1]", "port": 80, "weight": 0, "ttl": 604800})")
                    .calls,
                ElementsAre("put_endpoint default/web x [fd00::1]:80 weight=0 ttl=604800"));
    EXPECT_THAT(call("PUT", std::string(kEp) + "x", R"({"address": "fd00::1", "port": 65535, "ttl": null})").calls,
                ElementsAre("put_endpoint default/web x [fd00::1]:65535 weight=1 ttl=none"));
}

TEST(ControlRouter, PathSegmentsArePercentDecoded) {
    // The default id of an IPv6 endpoint, as the CLI encodes it.
    EXPECT_THAT(call("DELETE", "/v1/services/default/web/endpoints/%5Bfd00%3A%3A1%5D%3A80").calls,
                ElementsAre("delete_endpoint default/web [fd00::1]:80"));
    EXPECT_THAT(call("GET", "/v1/services/te%61m/w%65b/endpoints").calls, ElementsAre("list_endpoints team/web"));
    expect_refused("GET", "/v1/services/team/web/endpoints%zz", "", 400, "%-escapes");
    expect_refused("GET", "/v1/services/team/web/endpoints%2", "", 400, "%-escapes");
    expect_refused("DELETE", "/v1/services/a%2Fb/web", "", 400, "namespace: 'a/b' is not a name");
}

TEST(ControlRouter, OnlyRootIsServed) {
    auto r = call("GET", "/v1/health", "", 1000);
    EXPECT_EQ(r.reply.status, 403u);
    EXPECT_EQ(r.error(), "permission denied: uid 1000 is not root");
    EXPECT_THAT(r.calls, IsEmpty());
    // Even a request that would be a 404 or a change: nothing is learned or done.
    r = call("PUT", "/v1/services/default/web/endpoints/x", R"({"address": "10.0.0.1", "port": 80})", 65534);
    EXPECT_EQ(r.reply.status, 403u);
    EXPECT_THAT(r.calls, IsEmpty());
    r = call("GET", "/nope", "", std::nullopt);
    EXPECT_EQ(r.reply.status, 403u);
    EXPECT_THAT(r.error(), HasSubstr("credentials"));
}

TEST(ControlRouter, UnknownRoutesAre404) {
    for (const char* t : {"/", "/v1", "/v2/health", "/v1/health/x", "/v1/services/", "/v1/services/a",
                          "/v1/services/a/b/c", "/v1/services/a/b/endpoints/x/y", "/v1/services/a/b/endpoints/x/heartbeat/z",
                          "/v1/cgroups/x", "//v1/health", "/v1//health"})
        expect_refused("GET", t, "", 404, "no route for");
    expect_refused("GET", "v1/health", "", 400, "not a path");
}

TEST(ControlRouter, WrongMethodsAre405WithAllow) {
    struct {
        const char* method;
        const char* target;
        const char* allow;
    } cases[] = {
        {"POST", "/v1/health", "GET"},
        {"DELETE", "/v1/services", "GET"},
        {"GET", "/v1/services/a/b", "PUT, DELETE"},
        {"POST", "/v1/services/a/b/endpoints", "GET"},
        {"GET", "/v1/services/a/b/endpoints/x", "PUT, DELETE"},
        {"PUT", "/v1/services/a/b/endpoints/x/heartbeat", "POST"},
        {"GET", "/v1/cgroups", "PUT, DELETE"},
        {"put", "/v1/cgroups", "PUT, DELETE"},  // methods are case-sensitive
        {"POST", "/v1/health/backends", "GET"},
        {"DELETE", "/v1/services/a/b/health", "GET"},
    };
    for (const auto& c : cases) {
        expect_refused(c.method, c.target, "", 405, std::string("(allowed: ") + c.allow + ")");
        EXPECT_EQ(hl::control::allowed_methods(c.target), c.allow);
    }
    EXPECT_EQ(hl::control::allowed_methods("/nope"), "");
}

TEST(ControlRouter, QueryStringsAreRefused) {
    expect_refused("GET", "/v1/services?namespace=x", "", 400, "query strings are not taken");
}

TEST(ControlRouter, BadNamesAndIdsAre400) {
    expect_refused("DELETE", "/v1/services/Bad%20NS/web", "", 400, "namespace: 'Bad NS' is not a name");
    expect_refused("DELETE", "/v1/services/default/we!b", "", 400, "name: 'we!b' is not a name");
    expect_refused("DELETE", "/v1/services/default/" + std::string(64, 'a'), "", 400, "name: '");
    expect_refused("DELETE", "/v1/services//web", "", 400, "namespace: '' is not a name");
    expect_refused("DELETE", std::string(kEp) + "a%2Fb", "", 400, "id: 'a/b' is not an endpoint id");
    expect_refused("DELETE", std::string(kEp) + std::string(129, 'x'), "", 400, "is not an endpoint id");
    expect_refused("POST", std::string(kEp) + "a%00b/heartbeat", "", 400, "id: \"a\\u0000b\"");
    EXPECT_THAT(call("DELETE", std::string(kEp) + std::string(128, 'x')).calls, testing::SizeIs(1));
}

TEST(ControlRouter, EndpointBodyErrorsNameFieldAndValue) {
    std::string t = std::string(kEp) + "t1";
    struct {
        const char* body;
        const char* words;
    } cases[] = {
        {"", "body: missing (expected a JSON object)"},
        {"{", "body: not JSON"},
        {"[1]", "body: expected a JSON object, got [1]"},
        {R"({"port": 80})", "address: missing"},
        {R"({"address": "10.0.0.1"})", "port: missing"},
        {R"({"address": 10, "port": 80})", "address: expected a string"},
        {R"({"address": "10.0.0.300", "port": 80})", "address: '10.0.0.300' is not an IPv4 or IPv6 address"},
        {R"({"address": "web", "port": 80})", "address: 'web' is not an IPv4 or IPv6 address"},
        {R"({"address": "0.0.0.0", "port": 80})", "address: '0.0.0.0' is not a host address"},
        {R"({"address": "::", "port": 80})", "is not a host address"},
        {R"({"address": "224.0.0.1", "port": 80})", "is not a host address"},
        {R"({"address": "ff02::1", "port": 80})", "is not a host address"},
        {R"({"address": "255.255.255.255", "port": 80})", "is not a host address"},
        {R"({"address": "10.0.0.1", "port": 0})", "port: 0 is not a port (1-65535)"},
        {R"({"address": "10.0.0.1", "port": 65536})", "port: 65536 is not a port (1-65535)"},
        {R"({"address": "10.0.0.1", "port": -1})", "port: -1 is not a port"},
        {R"({"address": "10.0.0.1", "port": 18446744073709551615})", "port: 18446744073709551615 is not a port"},
        {R"({"address": "10.0.0.1", "port": "80"})", "port: expected an integer (1-65535), got '80'"},
        {R"({"address": "10.0.0.1", "port": 80.5})", "port: expected an integer (1-65535), got 80.5"},
        {R"({"address": "10.0.0.1", "port": true})", "port: expected an integer"},
        {R"({"address": "10.0.0.1", "port": 80, "weight": 65536})", "weight: 65536 is not a weight (0-65535)"},
        {R"({"address": "10.0.0.1", "port": 80, "weight": null})", "weight: expected an integer"},
        {R"({"address": "10.0.0.1", "port": 80, "ttl": 0})", "ttl: 0 is not a ttl in seconds (1-604800)"},
        {R"({"address": "10.0.0.1", "port": 80, "ttl": 604801})", "ttl: 604801 is not a ttl"},
        {R"({"address": "10.0.0.1", "port": 80, "ttl": "30s"})", "ttl: expected an integer"},
        {R"({"address": "10.0.0.1", "port": 80, "tll": 30})", "tll: unknown key (expected one of: address, port, weight, ttl)"},
        {R"({"address": "10.0.0.1", "port": 80, "port": 81})", "port: key given twice"},
        {R"({"address": "10.0.0.1", "port": 80} x)", "body: not JSON"},
        {R"({"address": "10.0.0.1", "port": 1e400})", "body: not JSON"},
    };
    for (const auto& c : cases) expect_refused("PUT", t, c.body, 400, c.words);
}

TEST(ControlRouter, CgroupBodyErrors) {
    struct {
        const char* method;
        const char* body;
        const char* words;
    } cases[] = {
        {"PUT", "{}", "body: give exactly one of cgroup (a path) and pid, got neither"},
        {"PUT", R"({"cgroup": "a", "pid": 1})", "not both"},
        {"PUT", R"({"namespace": "x"})", "got neither"},
        {"PUT", R"({"pid": 0})", "pid: 0 is not a pid (1-4194304)"},
        {"PUT", R"({"pid": 4194305})", "pid: 4194305 is not a pid"},
        {"PUT", R"({"pid": "12"})", "pid: expected an integer"},
        {"PUT", R"({"cgroup": ""})", "cgroup: '' is not a cgroup path"},
        {"PUT", R"({"cgroup": 5})", "cgroup: expected a string"},
        {"PUT", R"({"cgroup": "a\u0000b"})", "is not a cgroup path"},
        {"PUT", R"({"cgroup": "a", "namespace": "no way"})", "namespace: 'no way' is not a name"},
        {"PUT", R"({"cgroup": "a", "namespace": 3})", "namespace: expected a string"},
        {"PUT", R"({"cgroup": "a", "ns": "x"})", "ns: unknown key (expected one of: cgroup, pid, namespace)"},
        {"DELETE", R"({"cgroup": "a", "namespace": "x"})", "namespace: unknown key (detach takes cgroup or pid)"},
        {"DELETE", "", "body: missing"},
        {"PUT", "null", "body: expected a JSON object, got null"},
    };
    for (const auto& c : cases) expect_refused(c.method, "/v1/cgroups", c.body, 400, c.words);
}

TEST(ControlRouter, ServiceBodyTakesNamesFromThePath) {
    EXPECT_THAT(call("PUT", "/v1/services/prod/web",
                     R"({"name": "web", "namespace": "prod", "port": 80,
                         "backends": [{"address": "10.0.0.1", "port": 8080}]})")
                    .calls,
                ElementsAre("put_service prod/web port=80 backends=1"));
    expect_refused("PUT", "/v1/services/prod/web", R"({"name": "api", "port": 80})", 400,
                   "name: 'api' is not the path's 'web'");
    expect_refused("PUT", "/v1/services/prod/web", R"({"namespace": "default", "port": 80})", 400,
                   "namespace: 'default' is not the path's 'prod'");
    expect_refused("PUT", "/v1/services/prod/web", R"({"name": 5, "port": 80})", 400, "name: expected a string");
    // The config file's own checks and words (parse_service_item).
    expect_refused("PUT", "/v1/services/prod/web", R"({"port": 70000})", 400, "port");
    expect_refused("PUT", "/v1/services/prod/web", R"({"port": 80, "colour": "red"})", 400, "colour: unknown key");
    expect_refused("PUT", "/v1/services/prod/web", R"({"vip": "1.2.3", "port": 80})", 400, "vip: '1.2.3'");
    expect_refused("PUT", "/v1/services/prod/web", R"({})", 400, "port: missing");
    expect_refused("PUT", "/v1/services/prod/web", R"([{"port": 80}])", 400, "expected a JSON object");
    expect_refused("PUT", "/v1/services/prod/web", "port: 80", 400, "body: not JSON");
}

TEST(ControlRouter, DeepBodiesAreRefused) {
    std::string deep = R"({"address": "10.0.0.1", "port": 80, "x": )" + std::string(100000, '[') +
                       std::string(100000, ']') + "}";
    expect_refused("PUT", std::string(kEp) + "t", deep, 400, "nested deeper than 16 levels");
    std::string deep_service = R"({"port": 80, "backends": )" + std::string(50000, '[') + std::string(50000, ']') + "}";
    expect_refused("PUT", "/v1/services/a/b", deep_service, 400, "nested deeper");
}

TEST(ControlRouter, RoutesWithoutABodyRefuseOne) {
    EXPECT_THAT(call("GET", "/v1/services", " {} ").calls, ElementsAre("list_services"));
    EXPECT_THAT(call("POST", std::string(kEp) + "x/heartbeat", "{}").calls, ElementsAre("heartbeat default/web x"));
    expect_refused("DELETE", std::string(kEp) + "x", R"({"address": "10.0.0.1"})", 400, "takes no body");
    expect_refused("GET", "/v1/health", "x", 400, "takes no body");
}

TEST(ControlRouter, AThrowingHandlerIs500) {
    struct Throws : hlt::FakeControlHandler {
        Reply health() override { throw std::runtime_error("boom"); }
    } h;
    Reply r = hl::control::route(Request{"GET", "/v1/health", "", 0}, h);
    EXPECT_EQ(r.status, 500u);
    EXPECT_EQ(r.body["error"], "internal error: boom");
}

// A service definition may be answered later (with etcd, after a round trip
// to it): the answer goes to `done` then, once; a bad body is still
// answered at once, without calling the Handler.
TEST(ControlRouter, AServiceWriteMayBeAnsweredLater) {
    struct Later : hlt::FakeControlHandler {
        hl::control::Done held;
        void put_service(const hl::Service& s, hl::control::Done done) override {
            calls.push_back("put_service " + s.name);
            held = std::move(done);
        }
    } h;
    std::vector<Reply> answers;
    hl::control::route(Request{"PUT", "/v1/services/default/web", R"({"port": 80})", 0}, h,
                       [&](Reply r) { answers.push_back(std::move(r)); });
    EXPECT_THAT(h.calls, ElementsAre("put_service web"));
    EXPECT_TRUE(answers.empty()) << "not answered before the handler says";
    h.held(Reply::error(409, "changed in etcd since this host saw it"));
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].status, 409u);
    hl::control::route(Request{"PUT", "/v1/services/default/web", R"({"port": 0})", 0}, h,
                       [&](Reply r) { answers.push_back(std::move(r)); });
    ASSERT_EQ(answers.size(), 2u);
    EXPECT_EQ(answers[1].status, 400u);
    EXPECT_EQ(h.calls.size(), 1u);
    // The synchronous route() of the tests and the fuzzer: an answer not
    // given at once is a 500 that says so.
    Reply r = hl::control::route(Request{"PUT", "/v1/services/default/web", R"({"port": 80})", 0}, h);
    EXPECT_EQ(r.status, 500u);
    EXPECT_THAT(r.body["error"].get<std::string>(), HasSubstr("did not answer at once"));
}

}  // namespace
