// The hook's sequence against a fake daemon and a fake container: what
// poststart does, what poststop undoes, and what a failure leaves (nothing).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "oci/hook.h"

using namespace hl;
using namespace hl::oci;

namespace {

struct FakeApi : ControlApi {
    std::set<std::string> cgroups;    // "path=ns"
    std::set<std::string> endpoints;  // "ns/service/id=addr:port"
    std::vector<std::string> calls;
    int fail_register_at = -1;  // the n-th register call fails
    bool fail_deregister = false;
    int registers = 0;

    static std::string key(const RecordedEndpoint& e) { return e.ns + "/" + e.service + "/" + e.id; }
    Status attach_cgroup(const std::string& path, const std::string& ns) override {
        calls.push_back("attach " + path + " " + ns);
        cgroups.insert(path);
        return ok_status();
    }
    Status detach_cgroup(const std::string& path) override {
        calls.push_back("detach " + path);
        cgroups.erase(path);  // detaching what is not attached is done
        return ok_status();
    }
    Status register_endpoint(const RecordedEndpoint& e) override {
        calls.push_back("register " + key(e) + " " + e.address.with_port(e.port));
        if (registers++ == fail_register_at) return Error{"HTTP 404: no service 'nope'", 0};
        endpoints.insert(key(e));
        return ok_status();
    }
    Status deregister_endpoint(const RecordedEndpoint& e) override {
        calls.push_back("deregister " + key(e));
        if (fail_deregister) return Error{"control socket: connection refused", 0};
        endpoints.erase(key(e));
        return ok_status();
    }
};

struct FakeProbe : Probe {
    std::string cg = "/sys/fs/cgroup/unified/web-1";
    IpAddress addr = *IpAddress::parse("10.200.0.11");
    int address_calls = 0;
    bool no_process = false;
    Result<std::string> cgroup(pid_t pid) override {
        if (no_process) return Error{"cannot read /proc/" + std::to_string(pid) + "/cgroup", ENOENT};
        return cg;
    }
    Result<uint64_t> cgroup_id(const std::string&) override { return uint64_t{4242}; }
    Result<IpAddress> address(pid_t) override {
        ++address_calls;
        return addr;
    }
};

class OciHook : public ::testing::Test {
protected:
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() /
              ("hl-oci-hook-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir);
    }
    void TearDown() override { std::filesystem::remove_all(dir); }

    ContainerState state(const std::string& status, Annotations a) {
        ContainerState s{"1.0.2-dev", "web-1", status, std::nullopt, "/nonexistent-bundle", std::move(a)};
        if (status != "stopped") s.pid = 1234;
        return s;
    }
    Result<HookResult> run(const ContainerState& s) {
        auto stage = stage_of(s, std::nullopt);
        if (!stage) return stage.error();
        return run_hook(s, *stage, api, probe, RecordStore(dir.string()));
    }
    bool record_exists() { return std::filesystem::exists(dir / "web-1.json"); }

    std::filesystem::path dir;
    FakeApi api;
    FakeProbe probe;
};

}  // namespace

TEST(OciHookStage, FromStatusOrArgument) {
    ContainerState s{"1", "a", "created", 1, "/b", {}};
    EXPECT_EQ(*stage_of(s, std::nullopt), Stage::Poststart);
    s.status = "running";
    EXPECT_EQ(*stage_of(s, std::nullopt), Stage::Poststart);
    s.status = "stopped";
    EXPECT_EQ(*stage_of(s, std::nullopt), Stage::Poststop);
    EXPECT_EQ(*stage_of(s, "poststart"), Stage::Poststart);
    s.status = "creating";
    auto bad = stage_of(s, std::nullopt);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().what().find("state.status 'creating'"), std::string::npos);
    EXPECT_EQ(*stage_of(s, "poststop"), Stage::Poststop);
    EXPECT_FALSE(stage_of(s, "prestart").ok());
}

TEST_F(OciHook, PoststartAttachesAndRegistersPoststopUndoesAll) {
    auto a = run(state("created", {{"io.hopless.namespace", "default"}, {"io.hopless.register", "web:8080,dns:53/udp"}}));
    ASSERT_TRUE(a.ok()) << a.error().what();
    EXPECT_TRUE(a->acted());
    EXPECT_EQ(api.calls, (std::vector<std::string>{"attach /sys/fs/cgroup/unified/web-1 default",
                                                   "register default/web/web-1:8080:tcp 10.200.0.11:8080",
                                                   "register default/dns/web-1:53:udp 10.200.0.11:53"}));
    EXPECT_TRUE(record_exists());
    auto rec = RecordStore(dir.string()).load("web-1");
    ASSERT_TRUE(rec.ok() && rec->has_value());
    EXPECT_EQ((*rec)->cgroup_id, 4242u);
    EXPECT_EQ((*rec)->endpoints.size(), 2u);

    api.calls.clear();
    auto b = run(state("stopped", {{"io.hopless.namespace", "default"}}));
    ASSERT_TRUE(b.ok()) << b.error().what();
    EXPECT_EQ(api.calls, (std::vector<std::string>{"deregister default/web/web-1:8080:tcp",
                                                   "deregister default/dns/web-1:53:udp",
                                                   "detach /sys/fs/cgroup/unified/web-1"}));
    EXPECT_TRUE(api.cgroups.empty());
    EXPECT_TRUE(api.endpoints.empty());
    EXPECT_FALSE(record_exists());
    EXPECT_EQ(b->done.endpoints.size(), 2u);
}

TEST_F(OciHook, NoAnnotationsDoesNothing) {
    auto a = run(state("created", {{"org.opencontainers.image.title", "x"}}));
    ASSERT_TRUE(a.ok()) << a.error().what();
    EXPECT_FALSE(a->acted());
    EXPECT_TRUE(api.calls.empty());
    EXPECT_FALSE(record_exists());
    auto b = run(state("stopped", {}));
    ASSERT_TRUE(b.ok()) << b.error().what();
    EXPECT_TRUE(api.calls.empty());
}

TEST_F(OciHook, AnnotationsFromTheBundleWhenTheStateHasNone) {
    auto bundle = dir / "bundle";
    std::filesystem::create_directories(bundle);
    std::ofstream(bundle / "config.json") << R"({"annotations":{"io.hopless.namespace":"team-a"}})";
    auto s = state("running", {});
    s.annotations.reset();
    s.bundle = bundle.string();
    auto a = run(s);
    ASSERT_TRUE(a.ok()) << a.error().what();
    EXPECT_EQ(api.calls, (std::vector<std::string>{"attach /sys/fs/cgroup/unified/web-1 team-a"}));
}

TEST_F(OciHook, AddressAnnotationSkipsTheNetnsLookup) {
    auto a = run(state("created", {{"io.hopless.register", "web:80"}, {"io.hopless.address", "fd00::7"}}));
    ASSERT_TRUE(a.ok()) << a.error().what();
    EXPECT_EQ(probe.address_calls, 0);
    EXPECT_EQ(api.calls, (std::vector<std::string>{"register default/web/web-1:80:tcp [fd00::7]:80"}));
}

TEST_F(OciHook, BadAnnotationChangesNothing) {
    auto a = run(state("created", {{"io.hopless.namespace", "default"}, {"io.hopless.register", "web:http"}}));
    ASSERT_FALSE(a.ok());
    EXPECT_NE(a.error().what().find("io.hopless.register[0]: port 'http'"), std::string::npos);
    EXPECT_TRUE(api.calls.empty());
    EXPECT_FALSE(record_exists());
}

TEST_F(OciHook, MissingProcessChangesNothing) {
    probe.no_process = true;
    auto a = run(state("created", {{"io.hopless.namespace", "default"}}));
    ASSERT_FALSE(a.ok());
    EXPECT_NE(a.error().what().find("cgroup of pid 1234"), std::string::npos);
    EXPECT_TRUE(api.calls.empty());
    auto s = state("created", {{"io.hopless.namespace", "default"}});
    s.pid.reset();
    auto b = run(s);
    ASSERT_FALSE(b.ok());
    EXPECT_NE(b.error().what().find("state.pid: missing"), std::string::npos);
}

TEST_F(OciHook, FailedRegistrationUndoesTheStart) {
    api.fail_register_at = 1;
    auto a = run(state("created", {{"io.hopless.namespace", "default"}, {"io.hopless.register", "web:8080,nope:1"}}));
    ASSERT_FALSE(a.ok());
    EXPECT_NE(a.error().what().find("register 10.200.0.11:1 as default/nope id web-1:1:tcp: HTTP 404"),
              std::string::npos)
        << a.error().what();
    EXPECT_TRUE(api.cgroups.empty());
    EXPECT_TRUE(api.endpoints.empty());
    EXPECT_FALSE(record_exists());
    api.calls.clear();
    auto b = run(state("stopped", {}));
    ASSERT_TRUE(b.ok());
    EXPECT_TRUE(api.calls.empty());
}

TEST_F(OciHook, FailedPoststopKeepsWhatIsLeftForARetry) {
    ASSERT_TRUE(run(state("created", {{"io.hopless.namespace", "default"}, {"io.hopless.register", "web:8080"}})).ok());
    api.fail_deregister = true;
    auto b = run(state("stopped", {}));
    ASSERT_FALSE(b.ok());
    EXPECT_NE(b.error().what().find("deregister default/web id web-1:8080:tcp: control socket"), std::string::npos);
    EXPECT_TRUE(api.cgroups.empty());  // the cgroup part was undone
    ASSERT_TRUE(record_exists());
    auto rec = RecordStore(dir.string()).load("web-1");
    ASSERT_TRUE(rec.ok() && rec->has_value());
    EXPECT_FALSE((*rec)->cgroup.has_value());
    EXPECT_EQ((*rec)->endpoints.size(), 1u);
    api.fail_deregister = false;
    ASSERT_TRUE(run(state("stopped", {})).ok());
    EXPECT_TRUE(api.endpoints.empty());
    EXPECT_FALSE(record_exists());
}

TEST_F(OciHook, AStaleRecordOfTheSameIdIsUndoneFirst) {
    ASSERT_TRUE(run(state("created", {{"io.hopless.register", "old:1"}})).ok());
    api.calls.clear();
    ASSERT_TRUE(run(state("created", {{"io.hopless.register", "web:8080"}})).ok());
    EXPECT_EQ(api.calls, (std::vector<std::string>{"deregister default/old/web-1:1:tcp",
                                                   "register default/web/web-1:8080:tcp 10.200.0.11:8080"}));
    EXPECT_EQ(api.endpoints.size(), 1u);
}

TEST(OciRecord, RoundTripAndErrors) {
    HookRecord r;
    r.container_id = "c1";
    r.cgroup = "/sys/fs/cgroup/x";
    r.cgroup_id = 99;
    r.cgroup_ns = "default";
    r.endpoints.push_back({"default", "web", "c1:80:tcp", *IpAddress::parse("fd00::1"), 80});
    auto back = parse_record(record_to_json(r).dump());
    ASSERT_TRUE(back.ok()) << back.error().what();
    EXPECT_EQ(*back, r);
    EXPECT_FALSE(parse_record("{}").ok());
    EXPECT_FALSE(parse_record(R"({"container":"../x","endpoints":[]})").ok());
    EXPECT_NE(parse_record(R"({"container":"c","endpoints":[{"namespace":"d","service":"w","id":"i","address":"x","port":1}]})")
                  .error()
                  .what()
                  .find("record.endpoints[0].address"),
              std::string::npos);
}

TEST_F(OciHook, AContainerIdTheApiCannotTakeAsAnEndpointIdIsRefused) {
    auto s = state("created", {{"io.hopless.register", "web:8080"}});
    s.id = "a+b";
    auto a = run(s);
    ASSERT_FALSE(a.ok());
    EXPECT_NE(a.error().what().find("endpoint id 'a+b:8080:tcp'"), std::string::npos) << a.error().what();
    EXPECT_TRUE(api.calls.empty());
    s.id = std::string(120, 'c');
    EXPECT_FALSE(run(s).ok());
    s.id = std::string(64, 'f');
    EXPECT_TRUE(run(s).ok());
}
