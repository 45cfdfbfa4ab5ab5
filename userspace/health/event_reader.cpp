#include "health/event_reader.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstring>

#include "common/unique_fd.h"

namespace hl::health {

std::optional<hl_connect_failure> decode_connect_failure(std::span<const uint8_t> record) {
    if (record.size() < sizeof(hl_connect_failure)) return std::nullopt;
    hl_connect_failure ev;
    std::memcpy(&ev, record.data(), sizeof ev);  // records are 8-byte aligned, but say nothing of the type
    return ev;
}

Result<std::unique_ptr<EventReader>> EventReader::start(boost::asio::io_context& io, int ringbuf_map_fd,
                                                        Handler handler) {
    std::unique_ptr<EventReader> r(new EventReader(io));
    r->handler_ = std::move(handler);
    EventReader* self = r.get();
    auto ring = RingBuffer::open(ringbuf_map_fd, [self](std::span<const uint8_t> rec) {
        auto ev = decode_connect_failure(rec);
        if (!ev) {
            ++self->malformed_;
            return;
        }
        ++self->events_;
        self->handler_(*ev);
    });
    if (!ring) return ring.error();
    r->ring_ = std::move(ring.value());
    // asio owns (and closes) what it watches; libbpf owns its epoll fd.
    UniqueFd dup(::fcntl(r->ring_->epoll_fd(), F_DUPFD_CLOEXEC, 0));
    if (!dup.valid()) return sys_error("ring buffer: dup of its epoll fd");
    boost::system::error_code ec;
    r->watch_.assign(dup.release(), ec);
    if (ec) return Error{"ring buffer: watching its epoll fd: " + ec.message(), 0};
    r->arm();
    r->drain();  // what waited before the watch began
    return r;
}

EventReader::~EventReader() {
    boost::system::error_code ignored;
    watch_.cancel(ignored);
    watch_.close(ignored);
}

// Watch first, then drain: asio watches edge-triggered, and the kernel wakes
// the ring's reader only when it had read everything before. A record that
// lands between a drain and the next watch would make no edge, and the ring
// would stall behind it; with the watch in place first, it makes one.
void EventReader::arm() {
    watch_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec) {
                          if (ec || alive.expired()) return;  // cancelled: the reader is going
                          arm();
                          drain();
                      });
}

void EventReader::drain() {
    if (auto n = ring_->consume(); !n) spdlog::warn("{}", n.error().what());
}

}  // namespace hl::health
