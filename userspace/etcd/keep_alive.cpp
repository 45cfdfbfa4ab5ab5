#include "etcd/keep_alive.h"

#include <spdlog/spdlog.h>

#include <cstdio>

namespace hl::etcd::detail {

namespace {
std::string lease_name(int64_t id) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(id));  // as etcdctl prints it
    return buf;
}
}  // namespace

KeepAlive::KeepAlive(Core& core, int64_t id, int64_t ttl_seconds, std::function<void(const Error&)> on_lost,
                     std::function<void(int64_t)> on_renewed)
    : core_(core),
      id_(id),
      interval_(std::max<int64_t>(ttl_seconds * 1000 / 3, 100)),
      on_lost_(std::move(on_lost)),
      on_renewed_(std::move(on_renewed)),
      timer_(core.io()) {}

void KeepAlive::start() { tick(); }

void KeepAlive::stop() {
    if (stopped_) return;
    stopped_ = true;
    timer_.cancel();
    if (stream_) stream_->cancel();
    stream_.reset();
    core_.forget(this);
}

void KeepAlive::open() {
    size_t ep = core_.current();
    std::weak_ptr<KeepAlive> weak = weak_from_this();
    stream_ = std::make_shared<Stream>(
        core_, ep,
        Stream::Handlers{[weak](Stream* s, etcdserverpb::LeaseKeepAliveResponse&& r) {
                             if (auto k = weak.lock()) k->on_message(s, std::move(r));
                         },
                         [weak](Stream* s, const grpc::Status& st) {
                             if (auto k = weak.lock()) k->on_closed(s, st);
                         }});
    stream_->context().AddMetadata("hasleader", "true");
    stream_->start([&](grpc::ClientContext* ctx, Stream* reactor) {
        core_.channel(ep).lease->async()->LeaseKeepAlive(ctx, reactor);
    });
    unanswered_ = 0;
}

void KeepAlive::tick() {
    if (stopped_ || core_.stopped()) return;
    // Two intervals without an answer: the member is gone or silent (a
    // stopped process keeps its connections open); try the next one.
    if (stream_ && unanswered_ >= 2) {
        size_t ep = stream_->endpoint();
        core_.rotate_from(ep, "lease keep-alive unanswered");
        stream_->cancel();
        stream_.reset();
    }
    if (!stream_) open();
    etcdserverpb::LeaseKeepAliveRequest req;
    req.set_id(id_);
    stream_->write(std::move(req));
    ++unanswered_;
    timer_.expires_after(interval_);
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto k = weak.lock()) k->tick();
    });
}

void KeepAlive::on_message(Stream* s, etcdserverpb::LeaseKeepAliveResponse&& r) {
    if (stopped_ || s != stream_.get()) return;
    unanswered_ = 0;
    if (r.ttl() <= 0) {
        lost(Error{"etcd lease " + lease_name(id_) + " is gone (expired or revoked)"});
        return;
    }
    if (on_renewed_) on_renewed_(r.ttl());
}

void KeepAlive::on_closed(Stream* s, const grpc::Status& st) {
    if (s != stream_.get()) return;  // one we replaced
    stream_.reset();
    if (stopped_) return;
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
        lost(status_error("lease keep-alive " + lease_name(id_), core_.endpoint(s->endpoint()).url, st));
        return;
    }
    core_.report(s->endpoint(), st);
    spdlog::debug("etcd: lease {} keep-alive stream on {} ended ({}: {}); reopening", lease_name(id_),
                  core_.endpoint(s->endpoint()).url, code_name(st.error_code()), st.error_message());
    // The next tick opens a new stream: one interval is the backoff.
}

void KeepAlive::lost(Error e) {
    auto keep = shared_from_this();  // stop() lets the core drop us
    stop();
    if (on_lost_) on_lost_(e);
}

}  // namespace hl::etcd::detail
