// hl::load_yaml: the compact tree reads as YAML::Load's would, and the list
// under the sink's key streams item by item without being kept.
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
