// The OCI container state and bundle annotations: what runc passes a hook,
// and errors that name the field for anything else.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "oci/state.h"

using namespace hl::oci;

namespace {

std::string err_of(std::string_view text) {
    auto s = parse_state(text);
    return s ? "" : s.error().what();
}

}  // namespace

TEST(OciState, WhatRuncPassesAtPoststart) {
    auto s = parse_state(
        R"({"ociVersion":"1.0.2-dev","id":"web-1","status":"created","pid":7481,"bundle":"/tmp/b",)"
        R"("annotations":{"io.hopless.register":"web:8080"}})");
    ASSERT_TRUE(s.ok()) << s.error().what();
    EXPECT_EQ(s->oci_version, "1.0.2-dev");
    EXPECT_EQ(s->id, "web-1");
    EXPECT_EQ(s->status, "created");
    EXPECT_EQ(s->pid, 7481);
    EXPECT_EQ(s->bundle, "/tmp/b");
    ASSERT_TRUE(s->annotations.has_value());
    EXPECT_EQ(s->annotations->at("io.hopless.register"), "web:8080");
}

TEST(OciState, WhatRuncPassesAtPoststopHasNoPid) {
    auto s = parse_state(R"({"ociVersion":"1.0.2-dev","id":"web-1","status":"stopped","bundle":"/tmp/b"})");
    ASSERT_TRUE(s.ok()) << s.error().what();
    EXPECT_FALSE(s->pid.has_value());
    EXPECT_FALSE(s->annotations.has_value());
    auto zero = parse_state(R"({"ociVersion":"1.0.2","id":"a","status":"stopped","pid":0,"bundle":"/b"})");
    ASSERT_TRUE(zero.ok());
    EXPECT_FALSE(zero->pid.has_value());
}

TEST(OciState, ErrorsNameTheField) {
    EXPECT_NE(err_of("not json").find("not valid JSON"), std::string::npos);
    EXPECT_NE(err_of("[1]").find("expected a JSON object"), std::string::npos);
    EXPECT_NE(err_of(R"({"id":"a","status":"created"})").find("state.ociVersion: missing"), std::string::npos);
    EXPECT_NE(err_of(R"({"ociVersion":"1","status":"created"})").find("state.id: missing"), std::string::npos);
    EXPECT_NE(err_of(R"({"ociVersion":"1","id":7,"status":"created"})").find("state.id: expected a string"),
              std::string::npos);
    EXPECT_NE(err_of(R"({"ociVersion":"1","id":"a/b","status":"x"})").find("state.id: 'a/b' is not a container id"),
              std::string::npos);
    EXPECT_NE(err_of(R"({"ociVersion":"1","id":"..","status":"x"})").find("state.id"), std::string::npos);
    EXPECT_NE(err_of(R"({"ociVersion":"1","id":"a"})").find("state.status: missing"), std::string::npos);
    EXPECT_NE(err_of(R"({"ociVersion":"1","id":"a","status":"created","pid":"12"})").find("state.pid"),
              std::string::npos);
    EXPECT_NE(err_of(R"({"ociVersion":"1","id":"a","status":"created","pid":-1})").find("state.pid"),
              std::string::npos);
    EXPECT_NE(err_of(R"({"ociVersion":"1","id":"a","status":"created","pid":99999999999})").find("state.pid"),
              std::string::npos);
    EXPECT_NE(err_of(R"({"ociVersion":"1","id":"a","status":"created","annotations":[]})").find("state.annotations"),
              std::string::npos);
    EXPECT_NE(err_of(R"({"ociVersion":"1","id":"a","status":"created","annotations":{"k":1}})")
                  .find("state.annotations.k: expected a string"),
              std::string::npos);
}

TEST(OciState, OversizedStateIsRefused) {
    std::string big = R"({"ociVersion":"1","id":"a","status":"created","x":")" + std::string(kMaxStateBytes, 'x') + "\"}";
    EXPECT_NE(err_of(big).find("larger than"), std::string::npos);
}

TEST(OciState, ContainerIds) {
    EXPECT_TRUE(valid_container_id("web-1"));
    EXPECT_TRUE(valid_container_id(std::string(64, 'f')));
    EXPECT_TRUE(valid_container_id("a.b+c_d"));
    EXPECT_FALSE(valid_container_id(""));
    EXPECT_FALSE(valid_container_id("."));
    EXPECT_FALSE(valid_container_id("a b"));
    EXPECT_FALSE(valid_container_id("a:b"));
    EXPECT_FALSE(valid_container_id(std::string(129, 'a')));
}

TEST(OciState, BundleAnnotations) {
    auto a = parse_bundle_annotations(R"({"ociVersion":"1.0.2","annotations":{"io.hopless.namespace":"default"}})");
    ASSERT_TRUE(a.ok()) << a.error().what();
    EXPECT_EQ(a->at("io.hopless.namespace"), "default");
    auto none = parse_bundle_annotations(R"({"ociVersion":"1.0.2"})");
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
    auto bad = parse_bundle_annotations(R"({"annotations":{"a":true}})");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().what().find("config.json: annotations.a"), std::string::npos);
}

TEST(OciState, ReadBundleAnnotationsFromTheDirectory) {
    auto dir = std::filesystem::temp_directory_path() / ("hl-oci-bundle-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "config.json") << R"({"annotations":{"io.hopless.register":"web:80"}})";
    auto a = read_bundle_annotations(dir.string());
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(a.ok()) << a.error().what();
    EXPECT_EQ(a->at("io.hopless.register"), "web:80");
    auto missing = read_bundle_annotations(dir.string());
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().what().find("config.json"), std::string::npos);
}
