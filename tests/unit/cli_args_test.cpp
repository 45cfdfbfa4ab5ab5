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
