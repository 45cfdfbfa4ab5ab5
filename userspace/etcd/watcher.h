// A watch that survives its stream: it remembers the first revision it has
// not delivered, and after a break opens a new stream (on the next endpoint,
// after a backoff) from there, so events are neither lost nor repeated. A
// compacted revision ends it (the caller lists again). Internal; io thread.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "etcd/bidi_stream.h"
#include "etcd/core.h"

namespace hl::etcd::detail {

class Watcher : public Stoppable, public std::enable_shared_from_this<Watcher> {
public:
    Watcher(Core& core, WatchOptions opts, std::function<void(WatchBatch)> on_events,
            std::function<void(const WatchStatus&)> on_status);
    void start();
    void stop() override;

private:
    using Stream = BidiStream<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>;
    void connect();
    void on_message(Stream* s, etcdserverpb::WatchResponse&& r);
    void on_closed(Stream* s, const grpc::Status& st);
    void schedule_check();
    void check();
    void finish(WatchStatus::State state, int64_t compact_revision, std::string message);
    void status(WatchStatus::State state, std::string message, int64_t compact_revision = 0);

    Core& core_;
    WatchOptions opts_;
    std::function<void(WatchBatch)> on_events_;
    std::function<void(const WatchStatus&)> on_status_;
    int64_t next_rev_ = 0;  // the first revision not yet delivered; 0: "now", until created
    int64_t watch_id_ = -1;
    bool stopped_ = false;
    std::shared_ptr<Stream> stream_;
    boost::asio::steady_timer reconnect_timer_;
    boost::asio::steady_timer check_timer_;
    std::chrono::milliseconds backoff_;
    bool heard_ = false;   // a message since the last check
    bool probing_ = false; // a progress request is unanswered
};

}  // namespace hl::etcd::detail
