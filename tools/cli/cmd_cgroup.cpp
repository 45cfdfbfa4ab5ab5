// hopless cgroup: which cgroups' tasks are clients, and attaching by hand
// (works while the daemon is down: it uses the pinned programs).
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "bpf/cgroup.h"
#include "bpf/links.h"
#include "bpf/programs.h"
#include "cli.h"

namespace hl::cli {

namespace {

const char* kCgroupHelp =
    "Usage: hopless cgroup { list | attach PATH [namespace NS] | detach PATH | help }\n"
    "       PATH is absolute or relative to the cgroup v2 mount; NS defaults to 'default'.\n"
    "       A cgroup attached here is kept by the daemon until detached here.\n";

std::string owner(uint32_t flags) {
    std::string s;
    if (flags & HL_CG_FROM_CONFIG) s = "config";
    if (flags & HL_CG_FROM_CLI) s += s.empty() ? "cli" : ",cli";
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

Result<Output> cgroup_attach(Context& ctx, Words args) {
    if (args.empty()) return Error{"cgroup attach needs a PATH", 0};
    auto pairs = parse_pairs(args.subspan(1), {"namespace"});
    if (!pairs) return pairs.error();
    std::string ns = pairs->empty() ? "default" : (*pairs)[0].second;
    auto path = resolve_cgroup(args[0]);
    if (!path) return path.error();
    auto id = cgroup_id(*path);
    if (!id) return id.error();
    auto maps = open_maps(ctx);
    if (!maps) return maps.error();
    std::optional<uint32_t> ns_id;
    std::string known;
    maps->ns_meta.for_each([&](uint32_t nid, const hl_ns_meta& m) {
        std::string name(m.name, strnlen(m.name, HL_NAME_LEN));
        known += (known.empty() ? "" : ", ") + name;
        if (name == ns) ns_id = nid;
    });
    if (!ns_id)
        return Error{"namespace '" + ns + "' is unknown to the datapath (known: " + (known.empty() ? "none" : known) +
                         ")",
                     0};
    auto progs = open_pinned_programs(ctx.opts.pin_dir);
    if (!progs) return progs.error();
    hl_cgroup_ns v{*ns_id, HL_CG_FROM_CLI};
    if (auto old = maps->cgroup_ns.lookup(*id)) v.flags |= old->flags;
    // The namespace entry first: the first connect after the link exists
    // must already find it.
    if (auto st = maps->cgroup_ns.update(*id, v); !st) return st.error();
    LinkStore links(ctx.opts.pin_dir);
    if (auto st = links.attach(*id, *path, *progs); !st) return st.error();
    return Output{json{{"attached", *path}, {"id", *id}, {"namespace", ns}},
                  "attached " + *path + " (namespace " + ns + ")\n"};
}

Result<Output> cgroup_detach(Context& ctx, Words args) {
    if (args.size() != 1) return Error{"cgroup detach needs exactly one PATH", 0};
    auto path = resolve_cgroup(args[0]);
    if (!path) return path.error();
    auto id = cgroup_id(*path);
    if (!id) return id.error();
    auto maps = open_maps(ctx);
    if (!maps) return maps.error();
    auto old = maps->cgroup_ns.lookup(*id);
    LinkStore links(ctx.opts.pin_dir);
    bool had_links = link_count(ctx.opts.pin_dir, *id) > 0;
    if (!old && !had_links) return Error{*path + " is not attached", 0};
    if (auto st = links.detach(*id); !st) return st.error();
    if (auto st = maps->cgroup_ns.erase(*id); !st) return st.error();
    std::string note;
    if (old && (old->flags & HL_CG_FROM_CONFIG)) note = " (it is in the daemon's config: the next reload attaches it again)";
    return Output{json{{"detached", *path}, {"id", *id}}, "detached " + *path + note + "\n"};
}

}  // namespace

Result<Output> cmd_cgroup(Context& ctx, Words args) {
    static const std::vector<Command> table = {
        {"list", cgroup_list}, {"attach", cgroup_attach}, {"detach", cgroup_detach}};
    return dispatch(ctx, args, table, kCgroupHelp);
}

}  // namespace hl::cli
