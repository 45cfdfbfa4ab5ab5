// hopless oci-hook [poststart|poststop]: the OCI runtime hook (DESIGN.md
// "OCI runtime hook"; README "Containers that attach themselves"). Reads the
// container state on stdin; the work is in userspace/oci/hook.*, the daemon
// is reached through the control API (oci_control_api.cpp).
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "cli.h"
#include "oci/hook.h"

namespace hl::cli {

namespace {

const char* kOciHookHelp =
    "Usage: hopless oci-hook [ poststart | poststop | help ]\n"
    "       An OCI runtime hook: reads the container state (JSON) on stdin and acts on its\n"
    "       annotations. Without a stage it follows the state's status: created or running\n"
    "       at poststart, stopped at poststop.\n"
    "         io.hopless.namespace NS        poststart attaches the container's cgroup to NS\n"
    "         io.hopless.register  \"web:8080,dns:53/udp\"\n"
    "                                        poststart registers the container's address and\n"
    "                                        these ports as endpoints (id CONTAINER:PORT:PROTO)\n"
    "         io.hopless.address   ADDR      the address to register (default: the first global\n"
    "                                        address in the container's network namespace)\n"
    "       poststop undoes what poststart did. A container without io.hopless.* annotations is\n"
    "       left alone. Environment: HOPLESS_OCI_STATE_DIR (default /run/hopless/oci) holds what\n"
    "       poststart did; HOPLESS_OCI_HOOK_TIMEOUT (seconds, default 10) bounds one run.\n";

constexpr unsigned kDefaultTimeoutS = 10;

// The last line of defence against a hung container start: whatever blocks
// (stdin never closed, a daemon that accepts and never answers), the hook
// ends with a one-line error when the time is up. Only async-signal-safe
// calls in the handler.
void on_alarm(int) {
    static const char msg[] = "hopless: oci-hook: timed out (HOPLESS_OCI_HOOK_TIMEOUT)\n";
    ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    ::_exit(1);
}

Result<unsigned> hook_timeout() {
    const char* env = std::getenv("HOPLESS_OCI_HOOK_TIMEOUT");
    if (!env || !*env) return kDefaultTimeoutS;
    char* end = nullptr;
    unsigned long v = std::strtoul(env, &end, 10);
    if (*end != '\0' || v == 0 || v > 3600)
        return Error{"HOPLESS_OCI_HOOK_TIMEOUT: '" + std::string(env).substr(0, 32) + "' is not 1-3600 seconds", 0};
    return static_cast<unsigned>(v);
}

void arm_watchdog(unsigned seconds) {
    struct sigaction sa {};
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGALRM, &sa, nullptr);
    ::alarm(seconds);
}

json record_json(const oci::HookRecord& r) {
    json j = oci::record_to_json(r);
    j.erase("container");
    return j;
}

std::string describe(const oci::HookResult& r) {
    std::string verb_cg = r.stage == oci::Stage::Poststart ? "attached " : "detached ";
    std::string verb_ep = r.stage == oci::Stage::Poststart ? "registered " : "deregistered ";
    std::string s;
    if (r.done.cgroup) s += verb_cg + *r.done.cgroup + " (namespace " + r.done.cgroup_ns + ")";
    for (const auto& e : r.done.endpoints)
        s += (s.empty() ? "" : "; ") + verb_ep + e.ns + "/" + e.service + " id " + e.id + " at " +
             e.address.with_port(e.port);
    if (s.empty()) s = "nothing to do";
    return std::string(oci::to_string(r.stage)) + " " + r.container_id + ": " + s + "\n";
}

}  // namespace

Result<Output> cmd_oci_hook(Context& ctx, Words args) {
    std::optional<std::string_view> stage_arg;
    if (args.size() > 1) return Error{"oci-hook takes at most one argument: poststart or poststop", 0};
    if (args.size() == 1) {
        static const std::vector<std::string> stages{"poststart", "poststop", "help"};
        auto k = match_keyword(args[0], stages);
        if (!k) return k.error();
        if (*k == 2) return Output{json{{"help", kOciHookHelp}}, kOciHookHelp};
        stage_arg = stages[*k];
    }
    auto timeout = hook_timeout();
    if (!timeout) return timeout.error();
    arm_watchdog(*timeout);

    auto text = oci::read_bounded(std::cin, oci::kMaxStateBytes, "the container state on stdin");
    if (!text) return text.error();
    auto state = oci::parse_state(*text);
    if (!state) return state.error();
    auto stage = oci::stage_of(*state, stage_arg);
    if (!stage) return stage.error();

    auto api = make_control_api(ctx, *timeout);
    oci::ProcProbe probe;
    oci::RecordStore records(oci::default_record_dir());
    auto res = oci::run_hook(*state, *stage, *api, probe, records);
    ::alarm(0);
    if (!res) {
        // The runtime shows stderr as one line: keep it one.
        std::string msg = std::string("oci-hook ") + oci::to_string(*stage) + " " + state->id + ": " + res.error().what();
        for (char& c : msg)
            if (c == '\n' || c == '\r') c = ' ';
        return Error{msg, 0};
    }
    json j{{"stage", oci::to_string(res->stage)}, {"container", res->container_id}};
    j[res->stage == oci::Stage::Poststart ? "done" : "undone"] = record_json(res->done);
    return Output{std::move(j), describe(*res)};
}

}  // namespace hl::cli
