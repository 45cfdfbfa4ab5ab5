// A BPF ring buffer (BPF_MAP_TYPE_RINGBUF) read through libbpf, RAII. It
// never blocks: epoll_fd() turns readable when records wait (an event loop
// watches it), and consume() hands each waiting record to the handler.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "common/error.h"

struct ring_buffer;

namespace hl {

class RingBuffer {
public:
    using Handler = std::function<void(std::span<const uint8_t>)>;
    // map_fd: the ring buffer map (libbpf maps it; the fd may be closed after).
    static Result<std::unique_ptr<RingBuffer>> open(int map_fd, Handler handler);
    ~RingBuffer();
    RingBuffer(const RingBuffer&) = delete;
    RingBuffer& operator=(const RingBuffer&) = delete;

    // libbpf's epoll fd over the ring: readable while records wait. Owned here.
    int epoll_fd() const;
    // Hands every waiting record to the handler; returns how many.
    Result<int> consume();

private:
    RingBuffer() = default;
    static int on_sample(void* ctx, void* data, size_t size);
    ring_buffer* rb_ = nullptr;
    Handler handler_;
};

}  // namespace hl
