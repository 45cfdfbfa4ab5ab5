// The hopless CLI: shared pieces of every command. Each command fills an
// Output with JSON and text from the same data; main() prints one of them.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/args.h"
#include "common/error.h"
#include "control/client.h"
#include "datapath/inventory.h"
#include "oci/hook.h"

namespace hl::cli {

using json = nlohmann::json;
using Words = std::span<const std::string>;

struct Output {
    json data;
    std::string text;
    bool streamed = false;  // the command wrote its output as it went (top, trace)
};

struct Context {
    GlobalOptions opts;
};

using Handler = Result<Output> (*)(Context&, Words args);

struct Command {
    const char* keyword;
    Handler run;
};

// Dispatches args[0] among commands (first row is the default when args is
// empty); `help` is always a command.
Result<Output> dispatch(Context& ctx, Words args, const std::vector<Command>& table, const char* help_text);

// Column-aligned text table.
class Table {
public:
    explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
    void row(std::vector<std::string> r) { rows_.push_back(std::move(r)); }
    std::string str() const;

private:
    std::vector<std::vector<std::string>> rows_;
};

// Opens the pinned maps; the error says how to fix a missing pin dir.
Result<MapSet> open_maps(const Context& ctx);
// Finds a service by NAME, NAMESPACE/NAME or VIP:PORT.
Result<const ServiceView*> find_service(const Inventory& inv, const std::string& what);

json service_json(const ServiceView& s, bool with_backends);

// The control API, for the changing commands: a reply that is not 2xx is an
// Error carrying the daemon's {"error"} text.
Result<json> api_call(const Context& ctx, std::string_view method, const std::string& target,
                      const std::optional<json>& body = std::nullopt);
// NAMESPACE/NAME of a SERVICE, asking hoplessd (GET /v1/services) only when
// the SERVICE is NAME or VIP:PORT; `services`, when given, gets that answer.
Result<std::pair<std::string, std::string>> api_service(const Context& ctx, const std::string& what,
                                                        json* services = nullptr);
// "/v1/services/NS/NAME", each segment %-encoded.
std::string service_target(std::string_view ns, std::string_view name);
json stats_json(const hl_service_stats& s);
// The connection lifecycle (sockops) of a TCP service and of a backend.
json errors_json(const __u64 (&errors)[HL_REASONS]);
json lifecycle_json(const ServiceView& s, bool with_histograms = true);
json backend_lifecycle_json(const BackendView& b);
// "1.5k", "12.3M": counts and bytes in a narrow column.
std::string human(double v);

// Object handlers.
Result<Output> cmd_service(Context&, Words);
Result<Output> cmd_backend(Context&, Words);
Result<Output> cmd_cgroup(Context&, Words);
Result<Output> cmd_stats(Context&, Words);
Result<Output> cmd_health(Context&, Words);
Result<Output> cmd_prog(Context&, Words);
Result<Output> cmd_map(Context&, Words);
Result<Output> cmd_hosts(Context&, Words);
Result<Output> cmd_resolv(Context&, Words);
Result<Output> cmd_endpoint(Context&, Words);
// service apply | delete (the reading service commands are in cmd_services.cpp)
Result<Output> service_apply(Context&, Words);
Result<Output> service_delete(Context&, Words);
Result<Output> cmd_oci_hook(Context&, Words);
Result<Output> cmd_top(Context&, Words);
Result<Output> cmd_trace(Context&, Words);

// The OCI hook's way to the daemon: the control API on ctx.opts.socket,
// each call bounded by timeout_s (oci_control_api.cpp).
std::unique_ptr<oci::ControlApi> make_control_api(const Context& ctx, unsigned timeout_s);

extern const char* const kMainHelp;

}  // namespace hl::cli
