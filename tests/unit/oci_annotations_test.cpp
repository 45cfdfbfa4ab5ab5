// io.hopless.* annotations: what a container asks of the hook.
#include <gtest/gtest.h>

#include "oci/annotations.h"

using namespace hl;
using namespace hl::oci;

namespace {

std::string err_of(const Annotations& a) {
    auto r = parse_annotations(a);
    return r ? "" : r.error().what();
}

}  // namespace

TEST(OciAnnotations, RegisterList) {
    auto r = parse_register("web:8080, dns:53/udp ,api:9000/tcp");
    ASSERT_TRUE(r.ok()) << r.error().what();
    ASSERT_EQ(r->size(), 3u);
    EXPECT_EQ((*r)[0], (Registration{"web", 8080, Protocol::Tcp}));
    EXPECT_EQ((*r)[1], (Registration{"dns", 53, Protocol::Udp}));
    EXPECT_EQ((*r)[2], (Registration{"api", 9000, Protocol::Tcp}));
}

TEST(OciAnnotations, RegisterErrorsNameTheEntry) {
    auto msg = [](std::string_view t) {
        auto r = parse_register(t);
        return r ? std::string() : r.error().what();
    };
    EXPECT_NE(msg("").find("io.hopless.register: empty"), std::string::npos);
    EXPECT_NE(msg("web").find("io.hopless.register[0]: 'web' is not service:port"), std::string::npos);
    EXPECT_NE(msg("web:8080,").find("io.hopless.register[1]: empty entry"), std::string::npos);
    EXPECT_NE(msg("web:0").find("io.hopless.register[0]: port '0' is not 1-65535"), std::string::npos);
    EXPECT_NE(msg("web:65536").find("port '65536'"), std::string::npos);
    EXPECT_NE(msg("web:80x").find("port '80x'"), std::string::npos);
    EXPECT_NE(msg("web:-1").find("port '-1'"), std::string::npos);
    EXPECT_NE(msg("web:80/sctp").find("protocol 'sctp' is not tcp or udp"), std::string::npos);
    EXPECT_NE(msg("w b:80").find("service 'w b' is not a name"), std::string::npos);
    EXPECT_NE(msg(":80").find("service '' is not a name"), std::string::npos);
    EXPECT_NE(msg("web:80,web:80/tcp").find("io.hopless.register[1]: web:80/tcp is given twice"), std::string::npos);
    EXPECT_TRUE(parse_register("web:80,web:80/udp").ok());
}

TEST(OciAnnotations, NamespaceRegisterAndAddress) {
    auto r = parse_annotations({{"io.hopless.namespace", "team-a"},
                                {"io.hopless.register", "web:8080"},
                                {"io.hopless.address", "10.200.0.11"},
                                {"org.opencontainers.image.title", "x"}});
    ASSERT_TRUE(r.ok()) << r.error().what();
    EXPECT_TRUE(r->wanted());
    EXPECT_EQ(r->attach_ns, "team-a");
    EXPECT_EQ(r->ns, "team-a");
    ASSERT_EQ(r->registrations.size(), 1u);
    EXPECT_EQ(r->address->to_string(), "10.200.0.11");
}

TEST(OciAnnotations, RegistrationsGoToDefaultWithoutNamespace) {
    auto r = parse_annotations({{"io.hopless.register", "web:8080"}});
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->attach_ns.has_value());
    EXPECT_EQ(r->ns, "default");
    EXPECT_FALSE(r->address.has_value());
}

TEST(OciAnnotations, NoHoplessAnnotationsIsNothingToDo) {
    Annotations a{{"io.kubernetes.pod.name", "x"}, {"io.hoplessness", "y"}};
    EXPECT_FALSE(has_hopless_annotations(a));
    auto r = parse_annotations(a);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->wanted());
    EXPECT_TRUE(has_hopless_annotations({{"io.hopless.namespace", "default"}}));
}

TEST(OciAnnotations, ErrorsNameTheAnnotation) {
    EXPECT_NE(err_of({{"io.hopless.namespace", "a/b"}}).find("io.hopless.namespace: 'a/b' is not a namespace name"),
              std::string::npos);
    EXPECT_NE(err_of({{"io.hopless.address", "10.0.0.300"}, {"io.hopless.register", "web:80"}})
                  .find("io.hopless.address: '10.0.0.300' is not an IPv4 or IPv6 address"),
              std::string::npos);
    EXPECT_NE(err_of({{"io.hopless.namspace", "default"}}).find("unknown annotation 'io.hopless.namspace'"),
              std::string::npos);
    EXPECT_NE(err_of({{"io.hopless.address", "10.0.0.1"}}).find("nothing to register"), std::string::npos);
    EXPECT_NE(err_of({{"io.hopless.register", "web"}}).find("io.hopless.register[0]"), std::string::npos);
}

TEST(OciAnnotations, EndpointIdIsStableAndPathSafe) {
    EXPECT_EQ(endpoint_id("web-1", {"web", 8080, Protocol::Tcp}), "web-1:8080:tcp");
    EXPECT_EQ(endpoint_id("c", {"dns", 53, Protocol::Udp}), "c:53:udp");
}
