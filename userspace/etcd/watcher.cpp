#include "etcd/watcher.h"

#include <spdlog/spdlog.h>

namespace hl::etcd::detail {

Watcher::Watcher(Core& core, WatchOptions opts, std::function<void(WatchBatch)> on_events,
                 std::function<void(const WatchStatus&)> on_status)
    : core_(core),
      opts_(std::move(opts)),
      on_events_(std::move(on_events)),
      on_status_(std::move(on_status)),
      next_rev_(opts_.start_revision > 0 ? opts_.start_revision : 0),
      reconnect_timer_(core.io()),
      check_timer_(core.io()),
      backoff_(core.options().reconnect_min) {}

void Watcher::start() {
    connect();
    schedule_check();
}

void Watcher::stop() {
    if (stopped_) return;
    stopped_ = true;
    reconnect_timer_.cancel();
    check_timer_.cancel();
    if (stream_) stream_->cancel();
    stream_.reset();
    core_.forget(this);  // may drop the last owner but for the caller's
}

void Watcher::connect() {
    if (stopped_ || core_.stopped()) return;
    size_t ep = core_.current();
    std::weak_ptr<Watcher> weak = weak_from_this();
    auto stream = std::make_shared<Stream>(
        core_, ep,
        Stream::Handlers{[weak](Stream* s, etcdserverpb::WatchResponse&& r) {
                             if (auto w = weak.lock()) w->on_message(s, std::move(r));
                         },
                         [weak](Stream* s, const grpc::Status& st) {
                             if (auto w = weak.lock()) w->on_closed(s, st);
                         }});
    // Fail the stream when its member has no leader (a partitioned member
    // would otherwise keep it open and silent): etcd's "require leader".
    stream->context().AddMetadata("hasleader", "true");
    stream_ = stream;
    stream->start([&](grpc::ClientContext* ctx, Stream* reactor) {
        core_.channel(ep).watch->async()->Watch(ctx, reactor);
    });
    etcdserverpb::WatchRequest req;
    auto* c = req.mutable_create_request();
    c->set_key(opts_.key);
    if (opts_.prefix) c->set_range_end(prefix_end(opts_.key));
    c->set_start_revision(next_rev_);
    c->set_progress_notify(true);
    c->set_prev_kv(opts_.prev_kv);
    stream->write(std::move(req));
    heard_ = true;  // a fresh stream gets a full interval before it is probed
    probing_ = false;
}

void Watcher::on_message(Stream* s, etcdserverpb::WatchResponse&& r) {
    if (stopped_ || s != stream_.get()) return;
    heard_ = true;
    probing_ = false;
    if (r.created()) {
        watch_id_ = r.watch_id();
        // "From now" becomes a revision the first time: a reconnect resumes there.
        if (next_rev_ == 0) next_rev_ = r.header().revision() + 1;
        backoff_ = core_.options().reconnect_min;
        status(WatchStatus::State::Connected, "watching from revision " + std::to_string(next_rev_) + " on " +
                                                  core_.endpoint(s->endpoint()).url);
        if (stopped_) return;
    }
    if (r.compact_revision() > 0) {
        finish(WatchStatus::State::Compacted, r.compact_revision(),
               "revision " + std::to_string(next_rev_) + " is compacted (oldest held: " +
                   std::to_string(r.compact_revision()) + "); list again");
        return;
    }
    if (r.canceled()) {
        finish(WatchStatus::State::Canceled, 0,
               "etcd cancelled the watch: " + (r.cancel_reason().empty() ? "no reason given" : r.cancel_reason()));
        return;
    }
    if (r.events_size() > 0) {
        WatchBatch b;
        b.revision = r.header().revision();
        b.events.reserve(r.events_size());
        for (const auto& e : r.events()) b.events.push_back(from_proto(e));
        // Events come in revision order; the batch ends a revision (no fragments asked).
        next_rev_ = b.events.back().kv.mod_revision + 1;
        on_events_(std::move(b));
        return;
    }
    // A periodic progress notification for this watcher: nothing of ours
    // happened up to header.revision (etcd sends it only once the watcher is
    // in sync). Answers to our progress requests (watch_id -1) are only a
    // sign of life: etcd 3.4 does not wait for the watcher to sync for those.
    if (!r.created() && r.watch_id() == watch_id_ && r.header().revision() >= next_rev_) {
        next_rev_ = r.header().revision() + 1;
    }
}

void Watcher::on_closed(Stream* s, const grpc::Status& st) {
    if (s != stream_.get()) return;  // a stream we replaced
    stream_.reset();
    if (stopped_) return;
    core_.report(s->endpoint(), st);
    std::string why = std::string(code_name(st.error_code())) + ": " + st.error_message();
    status(WatchStatus::State::Disconnected, "watch stream on " + core_.endpoint(s->endpoint()).url +
                                                 " ended (" + why + "); resuming from revision " +
                                                 std::to_string(next_rev_));
    if (stopped_) return;
    reconnect_timer_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, core_.options().reconnect_max);
    reconnect_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto w = weak.lock()) w->connect();
    });
}

void Watcher::schedule_check() {
    check_timer_.expires_after(core_.options().watch_check_interval);
    check_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto w = weak.lock()) w->check();
    });
}

// A member that is stopped or cut off keeps the TCP connection open and says
// nothing: ask for progress, and replace a stream that does not answer.
void Watcher::check() {
    if (stopped_) return;
    if (stream_) {
        if (heard_) {
            heard_ = false;
        } else if (probing_) {
            size_t ep = stream_->endpoint();
            auto silent = "no answer for " + std::to_string(core_.options().watch_check_interval.count() * 2) + " ms";
            core_.rotate_from(ep, silent);
            spdlog::info("etcd: watch stream on {}: {}; reconnecting", core_.endpoint(ep).url, silent);
            stream_->cancel();  // on_closed reconnects
        } else {
            etcdserverpb::WatchRequest req;
            req.mutable_progress_request();
            stream_->write(std::move(req));
            probing_ = true;
        }
    }
    schedule_check();
}

void Watcher::finish(WatchStatus::State state, int64_t compact_revision, std::string message) {
    auto keep = shared_from_this();  // stop() lets the core drop us
    stop();
    status(state, std::move(message), compact_revision);
}

void Watcher::status(WatchStatus::State state, std::string message, int64_t compact_revision) {
    if (!on_status_) return;
    WatchStatus st;
    st.state = state;
    st.next_revision = next_rev_;
    st.compact_revision = compact_revision;
    st.message = std::move(message);
    auto keep = shared_from_this();  // the callback may stop us
    on_status_(st);
}

}  // namespace hl::etcd::detail
