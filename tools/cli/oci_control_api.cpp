// The OCI hook's way to the daemon: the control API (DESIGN.md "Control
// API") on --socket. Undoing what is not there (404) counts as done, so a
// poststop that runs twice, or after a failed poststart, is harmless.
#include "cli.h"
#include "control/client.h"
#include "control/path.h"

namespace hl::cli {

namespace {

class ApiOverSocket : public oci::ControlApi {
public:
    ApiOverSocket(std::string socket, unsigned timeout_s) : client_(std::move(socket), std::chrono::seconds(timeout_s)) {}

    Status attach_cgroup(const std::string& path, const std::string& ns) override {
        return ask("PUT", "/v1/cgroups", json{{"cgroup", path}, {"namespace", ns}}, false);
    }
    Status detach_cgroup(const std::string& path) override {
        return ask("DELETE", "/v1/cgroups", json{{"cgroup", path}}, true);
    }
    Status register_endpoint(const oci::RecordedEndpoint& e) override {
        return ask("PUT", target(e), json{{"address", e.address.to_string()}, {"port", e.port}}, false);
    }
    Status deregister_endpoint(const oci::RecordedEndpoint& e) override {
        return ask("DELETE", target(e), std::nullopt, true);
    }

private:
    static std::string target(const oci::RecordedEndpoint& e) {
        return "/v1/services/" + control::encode_segment(e.ns) + "/" + control::encode_segment(e.service) +
               "/endpoints/" + control::encode_segment(e.id);
    }

    Status ask(std::string_view method, const std::string& target, const std::optional<json>& body,
               bool missing_is_done) {
        auto r = client_.call(method, target, body);
        if (!r) return r.error();
        if (r->ok() || (missing_is_done && r->status == 404)) return ok_status();
        bool has_error = r->body.is_object() && r->body.contains("error");
        return Error{has_error ? "hoplessd: " + control::error_text(*r) + " (HTTP " + std::to_string(r->status) + ")"
                               : control::error_text(*r),
                     0};
    }

    control::Client client_;
};

}  // namespace

std::unique_ptr<oci::ControlApi> make_control_api(const Context& ctx, unsigned timeout_s) {
    return std::make_unique<ApiOverSocket>(ctx.opts.socket, timeout_s);
}

}  // namespace hl::cli
