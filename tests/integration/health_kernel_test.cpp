// Outlier detection's kernel inputs, and its verdicts' way into the trace ring. The connect-failure event reader
// (health/event_reader.h) on a real BPF ring buffer, fed by a real BPF
// program: a tiny socket filter, written here as instructions, that
// bpf_ringbuf_output()s one hl_connect_failure per run (BPF_PROG_TEST_RUN runs it; `repeat` runs it many times). The
// datapath's own producer (sockops) is tested end to end in
// tests/e2e/test_health.sh.
#include <linux/bpf.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <fstream>
#include <thread>

#include "common/unique_fd.h"
#include "harness.h"
#include "bpf/map.h"
#include "bpf/trace_writer.h"
#include "health/event_reader.h"

using namespace hlt;

namespace {

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}

// A program that outputs `size` bytes of {ts 0, service, backend, count,
// reason} from its stack to the ring buffer `ring`.
hl::UniqueFd producer(int ring, const hl_connect_failure& ev, uint32_t size = sizeof(hl_connect_failure)) {
    static_assert(sizeof(hl_connect_failure) == 24);
    std::vector<bpf_insn> p = {
        insn(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, -24, 0),
        insn(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -16, static_cast<int32_t>(ev.service_id)),
        insn(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -12, static_cast<int32_t>(ev.backend_id)),
        insn(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -8, static_cast<int32_t>(ev.consecutive_failures)),
        insn(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, ev.reason),
        insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, ring),
        insn(0, 0, 0, 0, 0),
        insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),
        insn(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -24),
        insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, static_cast<int32_t>(size)),
        insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, 0),
        insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ringbuf_output),
        insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
        insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
    };
    char log[4096] = {};
    LIBBPF_OPTS(bpf_prog_load_opts, o, .log_level = 1, .log_size = sizeof log, .log_buf = log);
    int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "hl_test_rb", "GPL", p.data(), p.size(), &o);
    EXPECT_GE(fd, 0) << "program load: " << log;
    return hl::UniqueFd(fd);
}

void run(int prog, uint32_t times) {
    unsigned char pkt[64] = {};
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof pkt, .repeat = static_cast<int>(times));
    ASSERT_EQ(bpf_prog_test_run_opts(prog, &o), 0) << "test run: " << std::strerror(errno);
}

template <class F>
bool run_until(boost::asio::io_context& io, F done) {
    for (int i = 0; i < 400 && !done(); ++i) io.run_for(std::chrono::milliseconds(5));
    return done();
}

TEST(EventReader, EveryRecordOfARealRingBufferReachesTheHandlerOnTheIoContext) {
    HL_REQUIRE_BPF();
    hl::UniqueFd ring(bpf_map_create(BPF_MAP_TYPE_RINGBUF, "hl_test_rb", 0, 0, 64 * 1024, nullptr));
    ASSERT_TRUE(ring.valid()) << std::strerror(errno);
    boost::asio::io_context io;
    std::vector<hl_connect_failure> got;
    auto reader = hl::health::EventReader::start(io, ring.get(), [&](const hl_connect_failure& ev) { got.push_back(ev); });
    ASSERT_TRUE(reader) << reader.error().what();

    hl_connect_failure ev{};
    ev.service_id = 7;
    ev.backend_id = 12;
    ev.consecutive_failures = 3;
    ev.reason = HL_REASON_TIMEOUT;
    auto p = producer(ring.get(), ev);
    ASSERT_TRUE(p.valid());
    run(p.get(), 1);
    ASSERT_TRUE(run_until(io, [&] { return got.size() == 1; }));
    EXPECT_EQ(got[0].service_id, 7u);
    EXPECT_EQ(got[0].backend_id, 12u);
    EXPECT_EQ(got[0].consecutive_failures, 3u);
    EXPECT_EQ(got[0].reason, HL_REASON_TIMEOUT);

    // A burst, in rounds: each round lands while the reader is between
    // wakeups; none may stall behind another.
    for (int round = 0; round < 20; ++round) {
        run(p.get(), 50);
        size_t want = 1 + 50 * static_cast<size_t>(round + 1);
        ASSERT_TRUE(run_until(io, [&] { return got.size() == want; })) << "round " << round << ": " << got.size();
    }
    EXPECT_EQ((*reader)->events(), 1001u);

    // Records written while the reader drains (another CPU's failures):
    // the watch is in place before each drain, so none is left behind.
    std::thread writer([&] {
        for (int i = 0; i < 400; ++i) {
            run(p.get(), 5);
            std::this_thread::sleep_for(std::chrono::microseconds(200 + (i * 37) % 300));
        }
    });
    for (int i = 0; i < 2000 && got.size() < 3001; ++i) io.run_for(std::chrono::milliseconds(5));
    writer.join();
    ASSERT_TRUE(run_until(io, [&] { return got.size() == 3001; })) << got.size();

    // A record too short to be one is counted, not read past its end.
    auto shorty = producer(ring.get(), ev, 8);
    run(shorty.get(), 1);
    ASSERT_TRUE(run_until(io, [&] { return (*reader)->malformed() == 1; }));
    EXPECT_EQ(got.size(), 3001u);
}

}  // namespace

namespace {

// How many of this process's mappings are BPF maps (anon_inode:bpf-map).
int mapped_bpf_maps() {
    std::ifstream in("/proc/self/maps");
    int n = 0;
    for (std::string line; std::getline(in, line);)
        if (line.find("anon_inode:bpf-map") != std::string::npos) ++n;
    return n;
}

// SharedArray (bpf/map.h): a failure count set to 0 leaves the active
// count alone, through a mapping of the one page that holds the entry, gone
// after the call; entries on any page, batched reads of a range.
TEST(SharedArray, ResettingFailuresKeepsActiveAndMapsNothingForGood) {
    HL_REQUIRE_BPF();
    LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_MMAPABLE);
    const uint32_t n = 4096;  // 16 pages of 16-byte values
    hl::UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "hl_test_live", 4, sizeof(hl_backend_live), n, &o));
    ASSERT_TRUE(fd.valid()) << std::strerror(errno);
    const int raw = fd.get();
    hl::SharedArray<hl_backend_live> live(std::move(fd), "hl_test_live");
    const int mapped_before = mapped_bpf_maps();
    for (uint32_t id : {0u, 17u, 255u, 256u, 3000u, n - 1}) {
        hl_backend_live v{};
        v.active = 41 + id;
        v.consecutive_failures = 9;
        ASSERT_EQ(bpf_map_update_elem(raw, &id, &v, BPF_ANY), 0);
        EXPECT_EQ(live.get(id).active, 41 + id);
        EXPECT_EQ(live.get(id).consecutive_failures, 9u);
        ASSERT_TRUE(live.modify_in_place(
            id, [](hl_backend_live& e) { __atomic_store_n(&e.consecutive_failures, 0u, __ATOMIC_RELAXED); }));
        hl_backend_live k{};
        ASSERT_EQ(bpf_map_lookup_elem(raw, &id, &k), 0);
        EXPECT_EQ(k.active, 41 + id) << "id " << id;
        EXPECT_EQ(k.consecutive_failures, 0u) << "id " << id;
        EXPECT_EQ(mapped_bpf_maps(), mapped_before) << "the page is unmapped after the store";
    }
    EXPECT_FALSE(live.modify_in_place(n, [](hl_backend_live&) {})) << "out of range";
    // A range read in batches, from the middle.
    std::vector<uint32_t> seen;
    live.for_range(250, 260, [&](uint32_t i, const hl_backend_live& v) {
        seen.push_back(i);
        EXPECT_EQ(v.active, (i == 255 || i == 256) ? 41 + int64_t{i} : 0) << i;
    });
    EXPECT_EQ(seen.size(), 10u);
    EXPECT_EQ(seen.front(), 250u);
    EXPECT_EQ(seen.back(), 259u);

    // Not mmapable, or not values of this size: refused with the map's name.
    hl::SharedArray<hl_backend_live> plain(
        hl::UniqueFd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "hl_test_plain", 4, sizeof(hl_backend_live), 4, nullptr)),
        "hl_test_plain");
    auto r = plain.modify_in_place(1, [](hl_backend_live&) {});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().what().find("hl_test_plain"), std::string::npos);
    hl::SharedArray<hl_backend_live> other(
        hl::UniqueFd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "hl_test_other", 4, 8, 4, &o)), "hl_test_other");
    r = other.modify_in_place(1, [](hl_backend_live&) {});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().what().find("hl_test_other"), std::string::npos);
}

}  // namespace

// The daemon's ejections and restores enter the datapath's trace ring through
// hl_trace_health (a SEC("syscall") program of the real object): written only
// while a tracer's lease in hl_tracectl_v1 runs and names the service (or
// every one), stamped with the kernel's clock; a lease found past is
// cleared, as the datapath does; the program writes no other kind of event.
namespace {
int collect(void* ctx, void* data, size_t size) {
    auto* got = static_cast<std::vector<hl_trace_event>*>(ctx);
    if (size >= sizeof(hl_trace_event)) got->push_back(*static_cast<const hl_trace_event*>(data));
    return 0;
}
uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

TEST(TraceWriter, WritesTheDaemonsEventsOnlyWhileTracedAndForTheTracedService) {
    HL_REQUIRE_BPF();
    TestDatapath dp;
    auto prog = dp.object().trace_program();
    ASSERT_TRUE(prog) << prog.error().what();
    hl::TraceWriter w(std::move(prog.value()));
    std::vector<hl_trace_event> got;
    ring_buffer* rb = ring_buffer__new(dp.maps().trace.fd(), collect, &got, nullptr);
    ASSERT_TRUE(rb) << std::strerror(errno);
    std::unique_ptr<ring_buffer, void (*)(ring_buffer*)> rb_owner(rb, ring_buffer__free);

    hl_trace_event ev{};
    ev.type = HL_TRACE_EJECTED;
    ev.reason = HL_HEALTH_OUTLIER;
    ev.service_id = 7;
    ev.backend_id = 9;
    ev.backend_port = htons(8080);
    const auto addr = hl::IpAddress::parse("10.1.2.3")->bytes();
    std::memcpy(ev.backend, addr.data(), sizeof ev.backend);
    ev.ejection_ms = 2000;
    ev.pid = 4242;  // not the program's to pass on
    auto write = [&](const hl_trace_event& e) {
        auto r = w.write(e);
        EXPECT_TRUE(r) << r.error().what();
        return r && *r;
    };
    auto lease = [&](uint64_t until, uint32_t service) {
        ASSERT_TRUE(dp.maps().trace_ctl.update(0, hl_trace_ctl{until, service, static_cast<uint32_t>(getpid())}));
    };

    EXPECT_FALSE(write(ev)) << "nobody traces";
    lease(monotonic_ns() + 3'000'000'000ull, 8);
    EXPECT_FALSE(write(ev)) << "a tracer of another service";
    ring_buffer__consume(rb);
    EXPECT_TRUE(got.empty());

    lease(monotonic_ns() + 3'000'000'000ull, 7);
    const uint64_t t0 = monotonic_ns();
    EXPECT_TRUE(write(ev));
    hl_trace_event restored = ev;
    restored.type = HL_TRACE_RESTORED;
    restored.ejection_ms = 0;
    lease(monotonic_ns() + 3'000'000'000ull, 0);  // every service
    EXPECT_TRUE(write(restored));
    hl_trace_event forged = ev;
    forged.type = HL_TRACE_REDIRECT;
    EXPECT_FALSE(write(forged)) << "only the daemon's own kinds";
    ring_buffer__consume(rb);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].type, HL_TRACE_EJECTED);
    EXPECT_EQ(got[0].reason, HL_HEALTH_OUTLIER);
    EXPECT_EQ(got[0].service_id, 7u);
    EXPECT_EQ(got[0].backend_id, 9u);
    EXPECT_EQ(got[0].backend_port, htons(8080));
    EXPECT_EQ(std::memcmp(got[0].backend, addr.data(), 16), 0);
    EXPECT_EQ(got[0].ejection_ms, 2000u);
    EXPECT_EQ(got[0].pid, 0u);
    EXPECT_GE(got[0].ts_ns, t0) << "the kernel's clock";
    EXPECT_LE(got[0].ts_ns, got[1].ts_ns);
    EXPECT_EQ(got[1].type, HL_TRACE_RESTORED);

    // A lease run out: nothing written, and the lease cleared.
    lease(monotonic_ns() - 1, 0);
    EXPECT_FALSE(write(ev));
    EXPECT_EQ(dp.maps().trace_ctl.lookup(0)->until_ns, 0u);
    ring_buffer__consume(rb);
    EXPECT_EQ(got.size(), 2u);
}
