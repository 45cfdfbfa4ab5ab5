// hopless cgroup: which cgroups' tasks are clients (read from the pins, so
// it works while the daemon is down), and attaching and detaching them
// (through the daemon's control API).
#include <filesystem>

#include "bpf/cgroup.h"
#include "bpf/links.h"
#include "cli.h"
#include "cli/control_args.h"

namespace hl::cli {

namespace {

const char* kCgroupHelp =
    "Usage: hopless cgroup { list | attach { PATH | pid PID } [namespace NS] | detach { PATH | pid PID } | help }\n"
    "       PATH is absolute or relative to the cgroup v2 mount; pid PID names the cgroup of that\n"
    "       process (from /proc/PID/cgroup); NS defaults to 'default'.\n"
    "       attach and detach go through hoplessd (--socket); the daemon keeps a cgroup attached\n"
    "       here across its restarts until it is detached here. list reads the pinned maps.\n";

std::string owner(uint32_t flags) {
    std::string s;
    if (flags & HL_CG_FROM_CONFIG) s = "config";
    if (flags & HL_CG_FROM_CLI) s += s.empty() ? "api" : ",api";  // the control API (hopless cgroup attach, the OCI hook)
    return s.empty() ? "-" : s;
}

size_t link_count(const std::string& pin_dir, uint64_t id) {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(links_dir(pin_dir) + "/" + std::to_string(id), ec)) {
        (void)e;
        ++n;
    }
    return n;
}

Result<Output> cgroup_list(Context& ctx, Words args) {
    if (!args.empty()) return Error{"cgroup list takes no arguments", 0};
    auto maps = open_maps(ctx);
    if (!maps) return maps.error();
    Inventory inv = read_inventory(*maps, false);
    Output out{json::array(), ""};
    Table t({"CGROUP-ID", "PATH", "NAMESPACE", "ATTACHED-BY", "LINKS"});
    for (const auto& c : inv.cgroups) {
        std::string path = cgroup_path_of(c.id);
        size_t links = link_count(ctx.opts.pin_dir, c.id);
        out.data.push_back({{"id", c.id},
                            {"path", path.empty() ? json(nullptr) : json(path)},
                            {"namespace", c.ns},
                            {"attached_by", owner(c.flags)},
                            {"links", links}});
        t.row({std::to_string(c.id), path.empty() ? "(gone)" : path, c.ns, owner(c.flags), std::to_string(links)});
    }
    out.text = inv.cgroups.empty() ? "no cgroups attached\n" : t.str();
    return out;
}

// Attach and detach go through hoplessd, which owns the links and the
// cgroup -> namespace map and keeps what was attached across its restarts.
Result<Output> cgroup_change(Context& ctx, Words args, bool attach) {
    auto a = parse_cgroup_args(args, attach);
    if (!a) return a.error();
    auto r = api_call(ctx, attach ? "PUT" : "DELETE", "/v1/cgroups", a->body());
    if (!r) return r.error();
    std::string what = a->path ? *a->path : "the cgroup of pid " + std::to_string(*a->pid);
    // The daemon's answer names the cgroup it resolved, when it says.
    if (r->is_object() && r->contains("cgroup") && (*r)["cgroup"].is_string()) what = (*r)["cgroup"].get<std::string>();
    json j = r->is_object() ? *r : json::object();
    j[attach ? "attached" : "detached"] = what;
    if (attach) {
        std::string ns = a->ns.value_or("default");
        j["namespace"] = ns;
        return Output{j, "attached " + what + " (namespace " + ns + ")\n"};
    }
    return Output{j, "detached " + what + "\n"};
}

Result<Output> cgroup_attach(Context& ctx, Words args) { return cgroup_change(ctx, args, true); }
Result<Output> cgroup_detach(Context& ctx, Words args) { return cgroup_change(ctx, args, false); }

}  // namespace

Result<Output> cmd_cgroup(Context& ctx, Words args) {
    static const std::vector<Command> table = {
        {"list", cgroup_list}, {"attach", cgroup_attach}, {"detach", cgroup_detach}};
    return dispatch(ctx, args, table, kCgroupHelp);
}

}  // namespace hl::cli
