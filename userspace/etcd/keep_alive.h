// The loop that keeps one lease alive: a keep-alive request every ttl/3 on a
// LeaseKeepAlive stream, a new stream (next endpoint) when one breaks or
// stops answering, and "lost" only when etcd says the lease is gone.
// Internal; io thread.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>

#include "etcd/bidi_stream.h"
#include "etcd/core.h"

namespace hl::etcd::detail {

class KeepAlive : public Stoppable, public std::enable_shared_from_this<KeepAlive> {
public:
    KeepAlive(Core& core, int64_t id, int64_t ttl_seconds, std::function<void(const Error&)> on_lost,
              std::function<void(int64_t)> on_renewed);
    void start();
    void stop() override;

private:
    using Stream = BidiStream<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>;
    void tick();
    void open();
    void on_message(Stream* s, etcdserverpb::LeaseKeepAliveResponse&& r);
    void on_closed(Stream* s, const grpc::Status& st);
    void lost(Error e);

    Core& core_;
    int64_t id_;
    std::chrono::milliseconds interval_;
    std::function<void(const Error&)> on_lost_;
    std::function<void(int64_t)> on_renewed_;
    std::shared_ptr<Stream> stream_;
    boost::asio::steady_timer timer_;
    int unanswered_ = 0;  // ticks since the last answer on this stream
    bool stopped_ = false;
};

}  // namespace hl::etcd::detail
