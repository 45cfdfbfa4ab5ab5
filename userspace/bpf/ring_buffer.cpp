#include "bpf/ring_buffer.h"

#include <bpf/libbpf.h>

namespace hl {

int RingBuffer::on_sample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<RingBuffer*>(ctx);
    self->handler_(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
    return 0;
}

Result<std::unique_ptr<RingBuffer>> RingBuffer::open(int map_fd, Handler handler) {
    std::unique_ptr<RingBuffer> r(new RingBuffer());
    r->handler_ = std::move(handler);
    r->rb_ = ring_buffer__new(map_fd, &RingBuffer::on_sample, r.get(), nullptr);
    if (!r->rb_) return sys_error("ring buffer: cannot map it (ring_buffer__new)");
    return r;
}

RingBuffer::~RingBuffer() {
    if (rb_) ring_buffer__free(rb_);
}

int RingBuffer::epoll_fd() const { return ring_buffer__epoll_fd(rb_); }

Result<int> RingBuffer::consume() {
    int n = ring_buffer__consume(rb_);
    if (n < 0) return Error{"ring buffer: consume failed", -n};
    return n;
}

}  // namespace hl
