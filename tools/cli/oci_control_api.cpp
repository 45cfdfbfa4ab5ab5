// The OCI hook's way to the daemon. Interim: the control API client is not
// on this branch yet, so every call fails with a clear error.
#include "cli.h"

namespace hl::cli {

namespace {

class Unavailable : public oci::ControlApi {
public:
    explicit Unavailable(std::string socket) : socket_(std::move(socket)) {}
    Status attach_cgroup(const std::string&, const std::string&) override { return fail(); }
    Status detach_cgroup(const std::string&) override { return fail(); }
    Status register_endpoint(const oci::RecordedEndpoint&) override { return fail(); }
    Status deregister_endpoint(const oci::RecordedEndpoint&) override { return fail(); }

private:
    Status fail() const { return Error{"the control API client is not built in (socket " + socket_ + ")", 0}; }
    std::string socket_;
};

}  // namespace

std::unique_ptr<oci::ControlApi> make_control_api(const Context& ctx, unsigned) {
    return std::make_unique<Unavailable>(ctx.opts.socket);
}

}  // namespace hl::cli
