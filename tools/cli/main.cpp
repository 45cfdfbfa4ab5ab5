// hopless: inspect and steer the datapath (bpftool's grammar).
#include <cstdio>
#include <iostream>

#include "cli.h"
#include "common/version.h"

namespace hl::cli {

const char* const kMainHelp =
    "Usage: hopless [OPTIONS] OBJECT { COMMAND | help }\n"
    "       hopless help\n"
    "\n"
    "OBJECT := { service | endpoint | backend | cgroup | stats | health | top | trace | prog | map | hosts |\n"
    "            resolv | oci-hook }\n"
    "  service { list | show SERVICE }          services, VIPs and their backends\n"
    "  service { apply FILE|- | delete SERVICE } define, replace or remove services (YAML or JSON)\n"
    "  endpoint register SERVICE address ADDR port PORT [id ID] [weight W] [ttl SECONDS]\n"
    "  endpoint { heartbeat | deregister } SERVICE id ID\n"
    "  endpoint list [service SERVICE]          every backend, its source and the time left on its TTL\n"
    "  backend list [service SERVICE]           backends with weight, state, connections\n"
    "  cgroup list | attach { PATH | pid PID } [namespace NS] | detach { PATH | pid PID }\n"
    "  stats [service SERVICE]                  per-service and per-backend counters\n"
    "  health [service SERVICE]                 each backend: healthy or not, last probe, failures, ejections\n"
    "  top [sort KEY] [count N] [interval S]    live per-service view: new/s, active, errors/s, bytes/s, RTT\n"
    "  trace [service SERVICE] [count N]        datapath events as they happen (-j: one JSON object a line)\n"
    "  prog show | map show | map dump MAP      the BPF programs and maps\n"
    "  hosts [namespace NS]                     /etc/hosts lines: VIP name\n"
    "  resolv [namespace NS]                    resolv.conf lines for a task: nameserver, search\n"
    "  oci-hook [poststart | poststop]          an OCI runtime hook: the container state on stdin\n"
    "SERVICE := { NAME | NAMESPACE/NAME | VIP:PORT }\n"
    "\n"
    "Reading commands (list, show, stats, top, trace, prog, map, hosts) read the pinned maps, so they work\n"
    "while the daemon is down; changing commands (apply, delete, register, heartbeat, deregister,\n"
    "attach, detach, oci-hook) go through hoplessd's control socket, as root. health asks\n"
    "hoplessd, and shows the states in the pinned maps while it does not answer. resolv reads\n"
    "the config file.\n"
    "\n"
    "OPTIONS := { -j|--json | -p|--pretty | --pin-dir DIR | --socket PATH | --config FILE | -V|--version |\n"
    "             -h|--help }\n"
    "  --pin-dir DIR   where hoplessd pinned the datapath (default /sys/fs/bpf/hopless)\n"
    "  --socket PATH   hoplessd's control socket (default /run/hopless/hopless.sock)\n"
    "  --config FILE   hoplessd's config, read by resolv (default /etc/hopless/hopless.yaml)\n"
    "Keywords match by unique prefix: 'hopless serv li' is 'hopless service list'.\n";

}  // namespace hl::cli

int main(int argc, char** argv) {
    using namespace hl::cli;
    std::vector<std::string> args(argv + 1, argv + argc);
    auto parsed = parse_args(args);
    bool json_mode = false, pretty = false;
    auto fail = [&](const std::string& msg) {
        if (json_mode) std::cout << json{{"error", msg}}.dump(pretty ? 2 : -1) << "\n";
        std::cerr << "hopless: " << msg << "\n";
        return 1;
    };
    if (!parsed) return fail(parsed.error().what());
    json_mode = parsed->opts.json;
    pretty = parsed->opts.pretty;
    if (parsed->opts.version) {
        std::cout << (json_mode ? json{{"version", hl::version()}}.dump() : std::string("hopless ") + hl::version()) << "\n";
        return 0;
    }
    Context ctx{parsed->opts};
    static const std::vector<Command> objects = {
        {"service", cmd_service}, {"endpoint", cmd_endpoint}, {"backend", cmd_backend}, {"cgroup", cmd_cgroup},
        {"stats", cmd_stats},     {"health", cmd_health},     {"top", cmd_top},         {"trace", cmd_trace},
        {"prog", cmd_prog},       {"map", cmd_map},           {"hosts", cmd_hosts},     {"resolv", cmd_resolv},
        {"oci-hook", cmd_oci_hook},
    };
    Words words(parsed->words);
    hl::Result<Output> out = hl::Error{"", 0};
    if (words.empty() || parsed->opts.help) {
        out = Output{json{{"help", kMainHelp}}, kMainHelp};
        if (words.empty() && !parsed->opts.help) {
            std::cerr << kMainHelp;
            return 2;
        }
    } else {
        out = dispatch(ctx, words, objects, kMainHelp);
    }
    if (!out) return fail(out.error().what());
    if (out->streamed) return std::cout.flush() ? 0 : 1;
    if (json_mode) std::cout << out->data.dump(pretty ? 2 : -1) << "\n";
    else std::cout << out->text;
    std::cout.flush();
    return std::cout ? 0 : 1;
}
