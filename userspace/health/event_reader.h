// The kernel's connect-failure events (RINGBUF hl_events_v1, struct
// hl_connect_failure) on the daemon's io_context: the ring's epoll fd is
// watched like any socket, and every waiting record is decoded and handed
// on, so a burst of failures costs one wakeup, and none block the loop.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <span>

#include "bpf/ring_buffer.h"
#include "common/error.h"
#include "hopless/abi.h"

namespace hl::health {

// One record as the kernel wrote it; nullopt when it is too short to be one
// (a record of another layout: counted, never read past its end).
std::optional<hl_connect_failure> decode_connect_failure(std::span<const uint8_t> record);

class EventReader {
public:
    using Handler = std::function<void(const hl_connect_failure&)>;
    static Result<std::unique_ptr<EventReader>> start(boost::asio::io_context& io, int ringbuf_map_fd, Handler handler);
    ~EventReader();
    EventReader(const EventReader&) = delete;
    EventReader& operator=(const EventReader&) = delete;

    uint64_t events() const { return events_; }
    uint64_t malformed() const { return malformed_; }

private:
    explicit EventReader(boost::asio::io_context& io) : watch_(io) {}
    void arm();
    void drain();

    std::unique_ptr<RingBuffer> ring_;
    boost::asio::posix::stream_descriptor watch_;  // a dup of the ring's epoll fd
    Handler handler_;
    uint64_t events_ = 0, malformed_ = 0;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // handlers queued when it goes find it expired
};

}  // namespace hl::health
