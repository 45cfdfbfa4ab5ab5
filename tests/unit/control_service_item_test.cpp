// service_to_json(): what `hopless service apply` sends is read back by
// the daemon (parse_service_item) as the very Service the CLI parsed.
#include <gtest/gtest.h>

#include "discovery/service_json.h"
#include "discovery/config_file.h"

namespace {

TEST(ControlServiceItem, RoundTripsThroughTheParser) {
    auto doc = hl::parse_services_document(R"(
- name: web
  namespace: prod
  vip: 127.255.0.1
  port: 80
  protocol: udp
  algorithm: weighted
  affinity: { timeout: 300 }
  drain_timeout: 30
  backends:
    - { address: 10.200.0.11, port: 8080, weight: 3 }
    - { address: "fd00::12", port: 8080, weight: 0, state: draining }
- name: pool-allocated
  port: 53
)");
    ASSERT_TRUE(doc.ok()) << doc.error().what();
    ASSERT_EQ(doc->size(), 2u);
    for (const auto& s : *doc) {
        std::string text = hl::service_to_json(s).dump();
        auto back = hl::parse_service_item(text);
        ASSERT_TRUE(back.ok()) << text << ": " << back.error().what();
        EXPECT_EQ(*back, s) << text;
    }
    EXPECT_FALSE(hl::service_to_json((*doc)[1]).contains("vip"));  // still allocated from the pool
}

}  // namespace
