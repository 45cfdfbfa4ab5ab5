// libFuzzer target: hl::parse_config, the parser of the config file (outside
// input: whatever an operator or a tool writes to /etc/hopless/hopless.yaml).
//
// It must never crash, leak or hit undefined behaviour (ASan + UBSan watch),
// whatever the bytes. Beyond that, what it accepts must be what the rest of
// the daemon relies on; a broken promise aborts, which libFuzzer reports:
//   - an accepted config passes validate_config again, unchanged;
//   - parsing is deterministic (the same text gives the same services);
//   - a rejected config names at least one problem ("invalid config: ...").
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/config_file.h"
#include "model/validate.h"

namespace {

// The daemon checks attach: cgroups on the real filesystem; here the answer
// comes from the path itself, so both branches are reachable and repeatable.
std::optional<std::string> fake_cgroup_check(const std::string& path) {
    if (path.empty()) return std::string("is empty");
    if (path.find("missing") != std::string::npos) return std::string("does not exist");
    return std::nullopt;
}

[[noreturn]] void broken(const char* what, std::string_view detail) {
    std::fprintf(stderr, "fuzz_config: %s: %.*s\n", what, static_cast<int>(detail.size()), detail.data());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 64 * 1024) return -1;  // a config is small; keep the runs fast
    const std::string text(reinterpret_cast<const char*>(data), size);

    auto r = hl::parse_config(text, fake_cgroup_check);
    if (!r) {
        const std::string& m = r.error().message;
        if (m.rfind("invalid config: ", 0) != 0 || m.size() <= 16) broken("rejection without a reason", m);
        return 0;
    }

    const hl::Config& c = *r;
    std::vector<std::string> errors;
    hl::validate_config(c, errors);
    if (!errors.empty()) broken("accepted config fails validation", errors.front());

    // Touch every value the daemon will use, so sanitizers see bad ones.
    size_t sum = c.pin_dir.size() + c.metrics_listen.size() + c.control_socket.size() + c.vip_pool.to_string().size();
    for (const auto& a : c.attach) sum += a.cgroup.size() + a.ns.size();
    for (const auto& s : c.services) {
        if (!hl::valid_name(s.name) || !hl::valid_name(s.ns)) broken("accepted an invalid name", s.name);
        if (s.port == 0) broken("accepted port 0", s.name);
        if (s.vip) sum += s.vip->with_port(s.port).size() + (s.vip->is_v4() ? s.vip->v4_host_order() & 1 : 0);
        sum += std::string(hl::to_string(s.protocol)).size() + std::string(hl::to_string(s.algorithm)).size();
        for (const auto& b : s.backends) {
            if (b.port == 0) broken("accepted a backend port 0", s.name);
            sum += b.endpoint().size() + std::string(hl::to_string(b.state)).size();
        }
    }

    auto again = hl::parse_config(text, fake_cgroup_check);
    if (!again || again->services != c.services || again->attach != c.attach || again->maps != c.maps)
        broken("parsing is not deterministic", text.substr(0, 200));
    // Keep the reads alive: an empty asm that takes sum as an input.
    asm volatile("" : : "r"(sum) : "memory");
    return 0;
}
