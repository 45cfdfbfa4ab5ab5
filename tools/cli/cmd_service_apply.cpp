// hopless service apply | delete: services defined over the control API.
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli.h"
#include "discovery/service_json.h"
#include "discovery/config_file.h"

namespace hl::cli {

namespace {

Result<std::string> read_input(const std::string& file) {
    std::ostringstream text;
    if (file == "-") {
        text << std::cin.rdbuf();
        if (std::cin.bad()) return sys_error("cannot read standard input");
        return text.str();
    }
    std::ifstream in(file);
    if (!in) return sys_error("cannot read " + file);
    text << in.rdbuf();
    return text.str();
}

}  // namespace

Result<Output> service_apply(Context& ctx, Words args) {
    if (args.size() != 1) return Error{"service apply needs one FILE (or - for standard input)", 0};
    auto text = read_input(args[0]);
    if (!text) return text.error();
    // The whole document is checked before anything is sent: a typo in the
    // third item leaves the first two unapplied too.
    auto services = parse_services_document(*text);
    if (!services) return Error{(args[0] == "-" ? "<stdin>" : args[0]) + ": " + services.error().message, 0};
    Output out{json{{"applied", json::array()}}, ""};
    std::string done;
    for (const auto& s : *services) {
        std::string id = s.ns + "/" + s.name;
        auto r = api_call(ctx, "PUT", service_target(s.ns, s.name), service_to_json(s));
        if (!r)
            return Error{id + ": " + r.error().message + (done.empty() ? "" : " (applied before it: " + done + ")"),
                         0};
        done += (done.empty() ? "" : ", ") + id;
        json j{{"namespace", s.ns}, {"name", s.name}};
        if (r->is_object()) j.update(*r);
        std::string note;
        if (r->is_object() && r->contains("created") && (*r)["created"].is_boolean())
            note = (*r)["created"].get<bool>() ? " (created)" : " (replaced)";
        if (r->is_object() && r->contains("vip") && (*r)["vip"].is_string())
            note += " vip " + (*r)["vip"].get<std::string>();
        out.text += "applied " + id + note + "\n";
        out.data["applied"].push_back(std::move(j));
    }
    if (services->empty()) out.text = "nothing to apply\n";
    return out;
}

Result<Output> service_delete(Context& ctx, Words args) {
    if (args.size() != 1) return Error{"service delete needs one SERVICE (NAME, NAMESPACE/NAME or VIP:PORT)", 0};
    auto svc = api_service(ctx, args[0]);
    if (!svc) return svc.error();
    auto& [ns, name] = *svc;
    auto r = api_call(ctx, "DELETE", service_target(ns, name));
    if (!r) return r.error();
    return Output{json{{"namespace", ns}, {"name", name}, {"deleted", true}}, "deleted " + ns + "/" + name + "\n"};
}

}  // namespace hl::cli
