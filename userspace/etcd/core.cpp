#include "etcd/core.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace hl::etcd::detail {

namespace {

std::shared_ptr<grpc::Channel> make_channel(const Endpoint& ep, const ClientOptions& o) {
    grpc::ChannelArguments args;
    // Reconnect soon after a member comes back (gRPC's default backoff grows
    // to 2 minutes), and give up on a connect that hangs (a stopped member
    // accepts TCP and never answers) after connect_timeout, not 20 s.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(o.connect_timeout.count()));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(o.reconnect_max.count()));
    // HTTP/2 pings while calls are open find a dead peer under a stream; etcd
    // allows one every 5 s (--grpc-keepalive-min-time) and no pings without calls.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(o.keepalive_time.count()));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(std::min<int64_t>(o.keepalive_time.count(), 5000)));
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    // A list of every service of a large cluster is more than gRPC's 4 MB default.
    args.SetMaxReceiveMessageSize(-1);
    // One connection per channel: two clients must not share a subchannel
    // (a test's second client would ride on the first's broken connection).
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(ep.target, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

Core::Core(boost::asio::io_context& io, ClientOptions opts, std::vector<Endpoint> endpoints)
    : io_(io), opts_(std::move(opts)) {
    for (auto& ep : endpoints) {
        auto c = std::make_unique<Channel>();
        c->channel = make_channel(ep, opts_);
        c->kv = etcdserverpb::KV::NewStub(c->channel);
        c->watch = etcdserverpb::Watch::NewStub(c->channel);
        c->lease = etcdserverpb::Lease::NewStub(c->channel);
        c->endpoint = std::move(ep);
        channels_.push_back(std::move(c));
    }
}

Core::~Core() { shutdown(); }

void Core::report(size_t ep, const grpc::Status& s) {
    auto code = s.error_code();
    if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::DEADLINE_EXCEEDED) return;
    rotate_from(ep, std::string(code_name(code)) + ": " + s.error_message());
}

void Core::rotate_from(size_t ep, const std::string& why) {
    if (ep != cur_ || channels_.size() < 2) return;
    cur_ = (cur_ + 1) % channels_.size();
    spdlog::info("etcd: {} failed ({}); trying {}", channels_[ep]->endpoint.url, why, channels_[cur_]->endpoint.url);
}

void Core::adopt(std::shared_ptr<Stoppable> s) { owned_.push_back(std::move(s)); }

void Core::forget(const Stoppable* s) {
    std::erase_if(owned_, [s](const auto& p) { return p.get() == s; });
}

void Core::add_stream(std::weak_ptr<Cancelable> s) {
    std::erase_if(streams_, [](const auto& w) { return w.expired(); });
    streams_.push_back(std::move(s));
}

void Core::shutdown() {
    if (stopped_) return;
    stopped_ = true;
    // Watches and keep-alives first (they own streams and timers), then any
    // stream still finishing, then the unary calls.
    auto owned = std::move(owned_);
    for (auto& s : owned) s->stop();
    for (auto& w : streams_) {
        if (auto s = w.lock()) s->cancel();
    }
    std::unique_lock lock(mu_);
    for (auto* ctx : contexts_) ctx->TryCancel();
    // Cancelled calls finish within gRPC's threads at once; bounded anyway.
    if (!idle_.wait_for(lock, std::chrono::seconds(10), [this] { return ops_ == 0; })) {
        spdlog::error("etcd: {} calls still held by gRPC after 10 s at shutdown", ops_);
        idle_.wait(lock, [this] { return ops_ == 0; });  // freeing under gRPC's feet would be worse
    }
}

void Core::op_begin(grpc::ClientContext* ctx) {
    std::lock_guard lock(mu_);
    ++ops_;
    contexts_.insert(ctx);
}

void Core::untrack(grpc::ClientContext* ctx) {
    std::lock_guard lock(mu_);
    contexts_.erase(ctx);
}

void Core::op_done() {
    std::lock_guard lock(mu_);
    --ops_;
    if (ops_ == 0) idle_.notify_all();  // under the lock: the waiter may free the core right after
}

}  // namespace hl::etcd::detail
