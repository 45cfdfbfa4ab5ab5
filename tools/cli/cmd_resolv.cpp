// hopless resolv: the resolv.conf lines a task of a namespace needs to find
// services by name (DESIGN.md "Names (DNS)"). Read from the daemon's config
// file (--config), so it works without the daemon.
#include "cli.h"
#include "discovery/config_file.h"
#include "model/validate.h"

namespace hl::cli {

namespace {

const char* kResolvHelp =
    "Usage: hopless [--config FILE] resolv [namespace NS]\n"
    "       prints resolv.conf lines for a task of namespace NS (default 'default'):\n"
    "         nameserver <dns.vip>\n"
    "         search <NS>.<dns.zone>\n"
    "       from the daemon's config FILE (default /etc/hopless/hopless.yaml)\n";

}  // namespace

Result<Output> cmd_resolv(Context& ctx, Words args) {
    if (!args.empty() && args[0] == "help") return Output{json{{"help", kResolvHelp}}, kResolvHelp};
    auto pairs = parse_pairs(args, {"namespace"});
    if (!pairs) return pairs.error();
    std::string ns = pairs->empty() ? "default" : (*pairs)[0].second;
    if (!valid_name(ns)) return Error{"namespace '" + ns + "' is not a name (1-63 of A-Z a-z 0-9 - _ .)", 0};
    auto cfg = load_config_file(ctx.opts.config);
    if (!cfg) return cfg.error();
    if (!cfg->dns) return Error{"resolv: the config has no dns: block (" + ctx.opts.config + ")", 0};
    const DnsConfig& dns = *cfg->dns;
    // A short name ("web") has fewer dots than ndots' default of 1, so the
    // resolver tries the search domain first: no options line is needed.
    std::string search = ns + "." + dns.zone;
    Output out;
    out.data = json{{"namespace", ns}, {"nameserver", dns.vip.to_string()}, {"search", json::array({search})}};
    out.text = "nameserver " + dns.vip.to_string() + "\nsearch " + search + "\n";
    return out;
}

}  // namespace hl::cli
