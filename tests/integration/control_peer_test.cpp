// The control socket is root's: a process of another uid cannot connect
// (the file is 0600), and if it could (a loosened mode), the daemon's
// SO_PEERCRED check answers 403 and changes nothing. Needs root (setresuid);
// no BPF.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "../unit/fake_control_handler.h"
#include "control/client.h"
#include "control/server.h"
#include "harness.h"

namespace {

using ::testing::HasSubstr;

constexpr uid_t kNobody = 65534;

// Runs f in a child process as uid/gid 65534 and returns what it wrote.
// Forked while this process has one thread, so the child may allocate.
struct Child {
    pid_t pid = -1;
    int out = -1;
};
template <class F>
Child as_nobody(F f) {
    int p[2];
    if (::pipe(p) != 0) return {};
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        std::string said;
        if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
            ::setresuid(kNobody, kNobody, kNobody) != 0)
            said = "could not become uid 65534";
        else
            said = f();
        [[maybe_unused]] ssize_t n = ::write(p[1], said.data(), said.size());
        ::_exit(0);
    }
    ::close(p[1]);
    return {pid, p[0]};
}
std::string collect(Child c) {
    std::string all;
    char buf[512];
    ssize_t n;
    while ((n = ::read(c.out, buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
    ::close(c.out);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    return all;
}

TEST(ControlPeer, NonRootIsRefusedAndChangesNothing) {
    if (::geteuid() != 0) {
        if (hlt::bpf_required()) FAIL() << "this test needs root";
        GTEST_SKIP() << "needs root (setresuid)";
    }
    char tmpl[] = "/tmp/hl-control-peer.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string dir = tmpl, path = dir + "/ctl.sock";
    ::chmod(dir.c_str(), 0755);  // nobody may walk to the socket; only its mode stops it

    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    hlt::FakeControlHandler handler;
    auto server = hl::control::ControlServer::start(io, path, handler);
    ASSERT_TRUE(server.ok()) << server.error().what();

    // 1. The socket's mode (0600, root) keeps nobody out.
    Child denied = as_nobody([&] {
        auto r = hl::control::Client(path, std::chrono::seconds(5)).call("GET", "/v1/health");
        return r.ok() ? "answered " + std::to_string(r->status) : r.error().what();
    });
    std::string denied_said = collect(denied);

    // 2. With the mode loosened, the peer check answers instead.
    ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
    Child refused = as_nobody([&] {
        hl::control::Client c(path, std::chrono::seconds(5));
        std::string said;
        for (auto [method, target, body] :
             {std::tuple<const char*, std::string, std::optional<nlohmann::json>>{"GET", "/v1/health", std::nullopt},
              {"PUT", "/v1/services/default/web/endpoints/x", nlohmann::json{{"address", "10.0.0.1"}, {"port", 80}}},
              {"DELETE", "/v1/cgroups", nlohmann::json{{"pid", 1}}}}) {
            auto r = c.call(method, target, body);
            said += r.ok() ? std::to_string(r->status) + " " + hl::control::error_text(*r) : r.error().what();
            said += "\n";
        }
        return said;
    });
    // The children connected (or failed to) before the server runs: one
    // thread until here, so forking was safe.
    std::thread runner([&] { io.run(); });
    std::string refused_said = collect(refused);

    auto root = hl::control::Client(path).call("GET", "/v1/health");
    std::promise<std::vector<std::string>> seen;
    boost::asio::post(io, [&] {
        seen.set_value(handler.calls);
        server->reset();
    });
    auto calls = seen.get_future().get();
    work.reset();
    runner.join();
    std::filesystem::remove_all(dir);

    EXPECT_THAT(denied_said, HasSubstr("cannot reach hoplessd at " + path + ": Permission denied"));
    EXPECT_THAT(denied_said, HasSubstr("run as root"));
    std::string no = "403 permission denied: uid 65534 is not root\n";
    EXPECT_EQ(refused_said, no + no + no);
    ASSERT_TRUE(root.ok()) << root.error().what();
    EXPECT_EQ(root->status, 200u);
    EXPECT_EQ(calls, std::vector<std::string>{"health"});  // root's call only
}

}  // namespace
