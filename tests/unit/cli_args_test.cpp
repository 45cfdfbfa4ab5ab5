// The CLI grammar: options anywhere, unique-prefix keywords, clear errors.
#include <gtest/gtest.h>

#include "cli/args.h"

using namespace hl::cli;

TEST(CliArgs, OptionsAnywhereAndWordsInOrder) {
    auto p = parse_args({"-j", "service", "--pin-dir", "/x", "list", "-p"});
    ASSERT_TRUE(p.ok()) << p.error().what();
    EXPECT_TRUE(p->opts.json);
    EXPECT_TRUE(p->opts.pretty);
    EXPECT_EQ(p->opts.pin_dir, "/x");
    EXPECT_EQ(p->words, (std::vector<std::string>{"service", "list"}));
}

TEST(CliArgs, PinDirEqualsForm) {
    auto p = parse_args({"--pin-dir=/sys/fs/bpf/t", "stats"});
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->opts.pin_dir, "/sys/fs/bpf/t");
}

TEST(CliArgs, ConfigFile) {
    auto d = parse_args({"resolv"});
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->opts.config, "/etc/hopless/hopless.yaml") << "hoplessd's default";
    auto p = parse_args({"resolv", "--config", "/tmp/h.yaml", "namespace", "a"});
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->opts.config, "/tmp/h.yaml");
    EXPECT_EQ(p->words, (std::vector<std::string>{"resolv", "namespace", "a"}));
    auto e = parse_args({"--config=/etc/x.yaml", "resolv"});
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->opts.config, "/etc/x.yaml");
    EXPECT_FALSE(parse_args({"--config="}).ok());
    EXPECT_FALSE(parse_args({"resolv", "--config"}).ok());
}

TEST(CliArgs, MissingOptionValueIsAnError) {
    auto p = parse_args({"service", "--pin-dir"});
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.error().what().find("--pin-dir needs a value"), std::string::npos);
}

TEST(CliArgs, UnknownOptionNamesIt) {
    auto p = parse_args({"--frobnicate"});
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.error().what().find("--frobnicate"), std::string::npos);
}

TEST(CliArgs, UniquePrefixMatches) {
    std::vector<std::string> k{"service", "backend", "cgroup", "stats"};
    EXPECT_EQ(*match_keyword("serv", k), 0u);
    EXPECT_EQ(*match_keyword("b", k), 1u);
    EXPECT_EQ(*match_keyword("stats", k), 3u);
}

TEST(CliArgs, AmbiguousPrefixListsCandidates) {
    std::vector<std::string> k{"service", "stats", "backend"};
    auto r = match_keyword("s", k);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what(), "'s' is ambiguous: service, stats");
}

TEST(CliArgs, ExactMatchWinsOverLongerKeyword) {
    std::vector<std::string> k{"map", "mapping"};
    EXPECT_EQ(*match_keyword("map", k), 0u);
}

TEST(CliArgs, UnknownKeywordListsChoices) {
    auto r = match_keyword("zzz", {"list", "show"});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what(), "unknown keyword 'zzz' (expected one of: list, show)");
}

TEST(CliArgs, PairsByPrefixOnceEach) {
    std::vector<std::string> w{"names", "prod"};
    auto r = parse_pairs(w, {"namespace"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)[0], (std::pair<std::string, std::string>{"namespace", "prod"}));
    std::vector<std::string> twice{"namespace", "a", "namespace", "b"};
    EXPECT_FALSE(parse_pairs(twice, {"namespace"}).ok());
    std::vector<std::string> dangling{"namespace"};
    auto d = parse_pairs(dangling, {"namespace"});
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().what(), "'namespace' needs a value");
}

// ---- the changing commands' grammar (cli/control_args.h) ---------------

#include "cli/control_args.h"

namespace {

std::vector<std::string> W(std::initializer_list<const char*> w) { return {w.begin(), w.end()}; }

TEST(CliControlArgs, SocketOptionBothForms) {
    auto p = parse_args({"--socket", "/tmp/h.sock", "endpoint", "list"});
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->opts.socket, "/tmp/h.sock");
    auto q = parse_args({"endpoint", "--socket=/run/x.sock", "list"});
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q->opts.socket, "/run/x.sock");
    EXPECT_EQ(parse_args({"stats"})->opts.socket, "/run/hopless/hopless.sock");
}

TEST(CliControlArgs, ServiceRefForms) {
    auto n = parse_service_ref("web");
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->ns, "");
    EXPECT_EQ(n->name, "web");
    auto nn = parse_service_ref("prod/web");
    ASSERT_TRUE(nn.ok());
    EXPECT_EQ(nn->ns, "prod");
    EXPECT_EQ(nn->name, "web");
    auto v = parse_service_ref("127.255.0.1:80");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->vip->to_string(), "127.255.0.1");
    EXPECT_EQ(v->port, 80);
    auto v6 = parse_service_ref("[fd00::1]:53");
    ASSERT_TRUE(v6.ok());
    EXPECT_EQ(v6->vip->to_string(), "fd00::1");
    EXPECT_EQ(parse_service_ref("127.255.0.1:0").error().what(),
              "service '127.255.0.1:0': '0' is not VIP:PORT with a port (1-65535)");
    EXPECT_FALSE(parse_service_ref("a/b/c").ok());
    EXPECT_FALSE(parse_service_ref("").ok());
    EXPECT_FALSE(parse_service_ref("we b").ok());
}

TEST(CliControlArgs, ResolveServiceAmongTheDaemonsList) {
    auto doc = nlohmann::json::parse(R"({"services": [
        {"namespace": "default", "name": "web", "vip": "127.255.0.1", "port": 80},
        {"namespace": "prod", "name": "web", "vip": "127.255.0.2", "port": 80},
        {"namespace": "prod", "name": "api", "vip": "fd00::10", "port": 8080}]})");
    auto r = [&](const char* what) { return resolve_service(*parse_service_ref(what), &doc); };
    EXPECT_EQ(*r("api"), (std::pair<std::string, std::string>{"prod", "api"}));
    EXPECT_EQ(*r("127.255.0.2:80"), (std::pair<std::string, std::string>{"prod", "web"}));
    EXPECT_EQ(*r("[fd00::10]:8080"), (std::pair<std::string, std::string>{"prod", "api"}));
    EXPECT_EQ(*r("x/y"), (std::pair<std::string, std::string>{"x", "y"}));  // no lookup needed
    EXPECT_EQ(*r("db"), (std::pair<std::string, std::string>{"default", "db"}));  // the daemon says if it exists
    EXPECT_EQ(r("web").error().what(), "'web' names several services: default/web, prod/web (use NAMESPACE/NAME)");
    EXPECT_EQ(r("127.255.0.9:80").error().what(), "no service at 127.255.0.9:80");
    EXPECT_EQ(*resolve_service(*parse_service_ref("a/b"), nullptr), (std::pair<std::string, std::string>{"a", "b"}));
    EXPECT_FALSE(resolve_service(*parse_service_ref("web"), nullptr).ok());
}

TEST(CliControlArgs, RegisterDefaultsAndChecks) {
    auto a = parse_register_args(W({"web", "address", "10.0.0.5", "port", "8080"}));
    ASSERT_TRUE(a.ok()) << a.error().what();
    EXPECT_EQ(a->service, "web");
    EXPECT_EQ(a->id, "10.0.0.5:8080");
    EXPECT_EQ(a->body(), (nlohmann::json{{"address", "10.0.0.5"}, {"port", 8080}}));
    auto b = parse_register_args(W({"prod/web", "addr", "[fd00::5]", "po", "80", "weight", "0", "ttl", "30", "id", "t-1"}));
    ASSERT_TRUE(b.ok()) << b.error().what();
    EXPECT_EQ(b->id, "t-1");
    EXPECT_EQ(b->body(), (nlohmann::json{{"address", "fd00::5"}, {"port", 80}, {"weight", 0}, {"ttl", 30}}));
    EXPECT_EQ(parse_register_args(W({"fd00::5", "address", "fd00::5", "port", "80"}))->id, "[fd00::5]:80");

    auto err = [](std::initializer_list<const char*> w) { return parse_register_args(W(w)).error().what(); };
    EXPECT_EQ(err({"web", "address", "10.0.0.5"}), "endpoint register needs 'address ADDR' and 'port PORT'");
    EXPECT_EQ(err({"web", "address", "10.0.0.500", "port", "80"}), "address: '10.0.0.500' is not an IPv4 or IPv6 address");
    EXPECT_EQ(err({"web", "address", "10.0.0.5", "port", "65536"}), "port: '65536' is not a port (1-65535)");
    EXPECT_EQ(err({"web", "address", "10.0.0.5", "port", "-1"}), "port: '-1' is not a port (1-65535)");
    EXPECT_EQ(err({"web", "address", "10.0.0.5", "port", "80", "ttl", "0"}),
              "ttl: '0' is not a ttl in seconds (1-604800)");
    EXPECT_EQ(err({"web", "address", "10.0.0.5", "port", "80", "weight", "1x"}),
              "weight: '1x' is not a weight (0-65535)");
    EXPECT_EQ(err({"web", "address", "10.0.0.5", "port", "80", "id", "a/b"}),
              "id: 'a/b' is not an endpoint id (1-128 of A-Z a-z 0-9 . _ : - [ ])");
    EXPECT_EQ(err({"web", "address", "10.0.0.5", "port", "80", "port", "81"}), "'port' given twice");
    EXPECT_EQ(err({"web", "colour", "red"}), "unknown keyword 'colour' (expected one of: address, port, id, weight, ttl)");
    EXPECT_FALSE(parse_register_args({}).ok());
}

TEST(CliControlArgs, HeartbeatAndDeregisterNeedAnId) {
    auto a = parse_endpoint_id_args(W({"web", "id", "[fd00::5]:80"}), "heartbeat");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->service, "web");
    EXPECT_EQ(a->id, "[fd00::5]:80");
    EXPECT_EQ(parse_endpoint_id_args(W({"web"}), "deregister").error().what(), "endpoint deregister needs 'id ID'");
    EXPECT_EQ(parse_endpoint_id_args({}, "heartbeat").error().what(), "endpoint heartbeat needs SERVICE id ID");
    EXPECT_FALSE(parse_endpoint_id_args(W({"web", "id", ""}), "heartbeat").ok());
}

TEST(CliControlArgs, CgroupPathOrPid) {
    auto p = parse_cgroup_args(W({"tasks/a", "namespace", "prod"}), true);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->body(), (nlohmann::json{{"cgroup", "tasks/a"}, {"namespace", "prod"}}));
    auto q = parse_cgroup_args(W({"pid", "1234"}), true);
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q->body(), (nlohmann::json{{"pid", 1234}}));
    auto d = parse_cgroup_args(W({"pid", "7"}), false);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->body(), (nlohmann::json{{"pid", 7}}));
    EXPECT_EQ(parse_cgroup_args(W({"pid"}), true).error().what(), "'pid' needs a value");
    EXPECT_EQ(parse_cgroup_args(W({"pid", "0"}), true).error().what(), "pid: '0' is not a pid (1-4194304)");
    EXPECT_EQ(parse_cgroup_args(W({"/sys/fs/cgroup/x", "namespace", "prod"}), false).error().what(),
              "unexpected 'namespace' (cgroup detach { PATH | pid PID })");
    EXPECT_EQ(parse_cgroup_args(W({"x", "namespace", "a b"}), true).error().what(),
              "namespace: 'a b' is not a name (1-63 of A-Z a-z 0-9 - _ .)");
    EXPECT_FALSE(parse_cgroup_args({}, true).ok());
}

}  // namespace
