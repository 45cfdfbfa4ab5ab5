// One bidirectional gRPC stream (a watch or a lease keep-alive) on gRPC's
// callback API, with every result handed to the io thread. Internal.
//
// Rules that keep it safe:
// - gRPC's threads only read (a read is always pending while the stream
//   lives) and post; writes, the write queue and closing happen on the io
//   thread only.
// - A hold (AddHold) keeps gRPC from finishing the call while the io thread
//   may still write; the io thread removes it once (close()), after which it
//   never writes again. OnDone, gRPC's last word, comes after that.
// - The stream keeps itself alive (self_) until OnDone; gRPC never touches
//   it after OnDone.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_callback.h>

#include <deque>
#include <functional>
#include <memory>

#include "etcd/core.h"

namespace hl::etcd::detail {

template <class Req, class Resp>
class BidiStream : public grpc::ClientBidiReactor<Req, Resp>,
                   public Cancelable,
                   public std::enable_shared_from_this<BidiStream<Req, Resp>> {
public:
    struct Handlers {
        // io thread; each gets the stream, so an owner can ignore one it replaced
        std::function<void(BidiStream*, Resp&&)> on_message;
        std::function<void(BidiStream*, const grpc::Status&)> on_closed;  // last
    };

    BidiStream(Core& core, size_t endpoint, Handlers h)
        : core_(&core), weak_core_(core.weak_from_this()), ep_(endpoint), h_(std::move(h)) {}

    size_t endpoint() const { return ep_; }
    grpc::ClientContext& context() { return ctx_; }

    // io thread. `start_call(ctx, reactor)` binds this reactor to the RPC.
    template <class StartCall>
    void start(StartCall start_call) {
        self_ = this->shared_from_this();
        core_->op_begin(&ctx_);
        core_->add_stream(this->weak_from_this());
        start_call(&ctx_, this);
        this->AddHold();
        this->StartRead(&in_);
        this->StartCall();
    }

    // io thread: queued; one write is in flight at a time.
    void write(Req r) {
        if (closed_) return;
        out_.push_back(std::move(r));
        if (!writing_) {
            writing_ = true;
            this->StartWrite(&out_.front());
        }
    }

    // io thread: ends the stream (on_closed follows, with CANCELLED).
    void cancel() override {
        ctx_.TryCancel();
        close();
    }

private:
    void close() {
        if (closed_) return;
        closed_ = true;
        this->RemoveHold();
    }

    // ---- gRPC threads
    void OnReadDone(bool ok) override {
        auto me = this->shared_from_this();
        if (!ok) {  // the stream is ending: no more writes, let it finish
            boost::asio::post(core_->io(), [me = std::move(me)] { me->close(); });
            return;
        }
        Resp msg = std::move(in_);
        in_.Clear();
        boost::asio::post(core_->io(), [me = std::move(me), msg = std::move(msg)]() mutable {
            if (me->live()) me->h_.on_message(me.get(), std::move(msg));
        });
        this->StartRead(&in_);
    }

    void OnWriteDone(bool ok) override {
        boost::asio::post(core_->io(), [me = this->shared_from_this(), ok] {
            me->writing_ = false;
            me->out_.pop_front();
            if (!ok || me->closed_ || me->out_.empty()) return;
            me->writing_ = true;
            me->StartWrite(&me->out_.front());
        });
    }

    void OnDone(const grpc::Status& s) override {
        Core* core = core_;  // `this` may be gone once the post below has run
        core->untrack(&ctx_);
        auto me = std::move(self_);
        boost::asio::post(core->io(), [me = std::move(me), s] {
            me->closed_ = true;
            if (me->live()) me->h_.on_closed(me.get(), s);
        });
        core->op_done();  // last: the core may go once every op is done
    }

    bool live() const {
        auto core = weak_core_.lock();
        return core && !core->stopped();
    }

    Core* core_;  // valid until OnDone's op_done
    std::weak_ptr<Core> weak_core_;
    size_t ep_;
    Handlers h_;
    grpc::ClientContext ctx_;
    Resp in_;
    std::deque<Req> out_;  // io thread: front() is the write in flight
    bool writing_ = false;
    bool closed_ = false;  // io thread: the hold is gone, no more writes
    std::shared_ptr<BidiStream> self_;
};

}  // namespace hl::etcd::detail
