// hl::load_yaml: the compact tree reads as YAML::Load's would, and the list
// under the sink's key streams item by item without being kept.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "discovery/yaml_tree.h"

namespace {

hl::YamlNode load(const std::string& text, const hl::YamlItemSink& sink = {}) {
    std::istringstream in(text);
    return hl::load_yaml(in, sink);
}

// Streams `key`, recording each item's "name" in the order handed over.
struct Recorder {
    std::vector<std::string> names;
    std::vector<size_t> indexes;
    hl::YamlItemSink sink(std::string_view key) {
        return {key, [this](const hl::YamlNode& item, size_t i) {
                    names.push_back(item["name"].scalar());
                    indexes.push_back(i);
                }};
    }
};

TEST(YamlTree, ShapesAndLookups) {
    auto root = load("a: 1\nb: [x, ~, {c: d}]\nnull_value:\n\"a\": second\n");
    ASSERT_TRUE(root.is_map());
    EXPECT_EQ(root.size(), 4u);
    EXPECT_EQ(root["a"].scalar(), "1") << "a lookup reads the first of two equal keys";
    EXPECT_EQ(root.key(3).scalar(), "a") << "a key given twice is kept twice, in file order";
    EXPECT_TRUE(root["null_value"].is_null());
    EXPECT_FALSE(root["missing"]);
    const auto& b = root["b"];
    ASSERT_TRUE(b.is_sequence());
    EXPECT_EQ(b.size(), 3u);
    EXPECT_TRUE(b[1].is_null());
    EXPECT_EQ(b[2]["c"].scalar(), "d");
    EXPECT_FALSE(b[3]) << "past the end is undefined";
    EXPECT_FALSE(root["a"]["x"]) << "a scalar has no keys";
}

TEST(YamlTree, EmptyDocumentIsNull) {
    EXPECT_TRUE(load("").is_null());
    EXPECT_TRUE(load("# only a comment\n").is_null());
}

TEST(YamlTree, AliasesReadAsTheirAnchor) {
    auto root = load("x: &b [ {p: 1} ]\ny: *b\nz: &s text\nw: *s\n");
    ASSERT_TRUE(root["y"].is_sequence());
    EXPECT_EQ(root["y"][0]["p"].scalar(), "1");
    EXPECT_EQ(root["w"].scalar(), "text");
}

TEST(YamlTree, AliasInsideItsOwnNodeIsRejected) {
    EXPECT_THROW(load("services: &s\n  - { backends: *s }\n"), hl::YamlError);
}

TEST(YamlTree, SyntaxErrorsThrowAsYamlLoadDoes) {
    EXPECT_THROW(load("services: [ {name: a\n"), hl::YamlError);
}

// Where the problem is, 0-based: what the config error prints 1-based.
hl::YamlError error_of(const std::string& text) {
    try {
        load(text);
    } catch (const hl::YamlError& e) {
        return e;
    }
    ADD_FAILURE() << "accepted: " << text;
    return hl::YamlError(0, 0, "");
}

TEST(YamlTree, ErrorsSayWhere) {
    auto e = error_of("a: 1\nb: [ x, y\nc: 2\n");
    EXPECT_GE(e.line, 2u) << "past the list's start: where the parser gave up";
    EXPECT_THAT(e.what(), testing::HasSubstr("flow sequence at line 2, column 4"));
    // An undecodable byte: libyaml gives its offset, the error its place.
    e = error_of("a: 1\nbb: caf\xe9\n");
    EXPECT_EQ(e.line, 1u);
    EXPECT_EQ(e.column, 7u);
    EXPECT_THAT(e.what(), testing::HasSubstr("UTF-8"));
    e = error_of("a: 1\nb: *nowhere\n");
    EXPECT_EQ(e.line, 1u);
    EXPECT_EQ(e.column, 3u);
    EXPECT_THAT(e.what(), testing::HasSubstr("anchor is not defined"));
}

TEST(YamlTree, NullsAreUntaggedPlainNulls) {
    auto root = load("a: ~\nb: null\nc: NULL\nd:\ne: 'null'\nf: !!str null\ng: !!str\nh: \"\"\n");
    for (const char* k : {"a", "b", "c", "d"}) EXPECT_TRUE(root[k].is_null()) << k;
    EXPECT_EQ(root["e"].scalar(), "null");
    EXPECT_EQ(root["f"].scalar(), "null") << "a tag makes it text";
    EXPECT_TRUE(root["g"].is_scalar());
    EXPECT_EQ(root["g"].scalar(), "");
    EXPECT_TRUE(root["h"].is_scalar());
}

TEST(YamlTree, OnlyTheFirstDocumentIsRead) {
    auto root = load("a: 1\n---\nb: [ unclosed\n");
    EXPECT_EQ(root["a"].scalar(), "1");
    EXPECT_FALSE(root["b"]);
}

TEST(YamlTree, HostileDocumentsAreBounded) {
    // Nesting: the tree's copy and destruction recurse; the stack must not end.
    std::string deep(100000, '[');
    EXPECT_THAT(error_of(deep + std::string(100000, ']')).what(), testing::HasSubstr("nesting deeper than 512"));
    EXPECT_TRUE(load(std::string(500, '[') + std::string(500, ']')).is_sequence());
    // Nesting through aliases: each level is shallow, the copies are not.
    std::string chain = "a0: &a0 " + std::string(300, '[') + std::string(300, ']') + "\n";
    chain += "a1: &a1 " + std::string(300, '[') + "*a0" + std::string(300, ']') + "\n";
    EXPECT_THAT(error_of(chain).what(), testing::HasSubstr("nesting deeper than 512"));
    // "Billion laughs": ten aliases of ten aliases of ... copy 10^9 nodes.
    std::string laughs = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 10; ++i) {
        std::string prev = "*l" + std::to_string(i - 1);
        laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + prev;
        for (int j = 1; j < 10; ++j) laughs += ", " + prev;
        laughs += "]\n";
    }
    EXPECT_THAT(error_of(laughs).what(), testing::HasSubstr("aliases expand to more than"));
}

TEST(YamlTree, TheSinksListStreamsAndIsNotKept) {
    Recorder r;
    auto root = load("services:\n  - {name: a}\n  - {name: b}\n  - &c {name: c}\nother: *c\n", r.sink("services"));
    EXPECT_EQ(r.names, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(r.indexes, (std::vector<size_t>{0, 1, 2}));
    ASSERT_TRUE(root["services"].is_sequence());
    EXPECT_TRUE(root["services"].streamed());
    EXPECT_EQ(root["services"].size(), 0u);
    EXPECT_EQ(root["other"]["name"].scalar(), "c") << "an anchor inside a streamed item outlives it";
}

TEST(YamlTree, OnlyTheFirstTopLevelListStreams) {
    Recorder r;
    auto root = load("services: [ {name: a} ]\nservices: [ {name: b} ]\nx: { services: [ {name: c} ] }\n",
                     r.sink("services"));
    EXPECT_EQ(r.names, (std::vector<std::string>{"a"}));
    EXPECT_EQ(root.value(1).size(), 1u) << "a second services: is kept as a tree";
    EXPECT_EQ(root["x"]["services"].size(), 1u) << "a nested services: is kept as a tree";
}

TEST(YamlTree, ListsThatDoNotStream) {
    Recorder r;
    // An anchored list is kept whole, for its aliases.
    auto anchored = load("services: &s [ {name: a} ]\ncopy: *s\n", r.sink("services"));
    EXPECT_FALSE(anchored["services"].streamed());
    EXPECT_EQ(anchored["copy"][0]["name"].scalar(), "a");
    // An alias of a list defined earlier.
    auto aliased = load("x: &s [ {name: a} ]\nservices: *s\n", r.sink("services"));
    EXPECT_FALSE(aliased["services"].streamed());
    EXPECT_EQ(aliased["services"].size(), 1u);
    // Not a list.
    auto scalar = load("services: none\n", r.sink("services"));
    EXPECT_EQ(scalar["services"].scalar(), "none");
    EXPECT_TRUE(r.names.empty());
}

}  // namespace
