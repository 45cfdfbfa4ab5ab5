// The shared state behind EtcdClient: one channel per endpoint, which one
// calls go to, and the operations gRPC still holds (so that shutdown can
// cancel them and wait until gRPC lets go). Internal to userspace/etcd.
//
// Threads: the io thread owns everything but `mu_` and what it guards (the
// contexts and count of operations in flight), which gRPC's threads touch.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "etcd.grpc.pb.h"
#include "etcd/client.h"
#include "etcd/convert.h"
#include "model/etcd_endpoint.h"

namespace hl::etcd::detail {

struct Channel {
    Endpoint endpoint;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
};

// A stream the core can cancel at shutdown (BidiStream).
class Cancelable {
public:
    virtual ~Cancelable() = default;
    virtual void cancel() = 0;
};

class Core : public std::enable_shared_from_this<Core> {
public:
    Core(boost::asio::io_context& io, ClientOptions opts, std::vector<Endpoint> endpoints);
    ~Core();

    boost::asio::io_context& io() { return io_; }
    const ClientOptions& options() const { return opts_; }

    // ---- io thread
    size_t current() const { return cur_; }
    Channel& channel(size_t i) { return *channels_[i]; }
    const Endpoint& endpoint(size_t i) const { return channels_[i]->endpoint; }
    // A call or stream on endpoint `ep` ended with `s`: when that says the
    // member is unreachable or silent, calls move on to the next endpoint.
    void report(size_t ep, const grpc::Status& s);
    // Moves on from `ep` (if it is still the current one), saying why.
    void rotate_from(size_t ep, const std::string& why);
    bool stopped() const { return stopped_; }
    // Watches and keep-alives: owned here until they stop or the core shuts down.
    void adopt(std::shared_ptr<Stoppable> s);
    void forget(const Stoppable* s);
    void add_stream(std::weak_ptr<Cancelable> s);
    // Stops everything and waits until gRPC has finished every operation.
    void shutdown();

    // ---- any thread (gRPC's callbacks)
    // An operation on gRPC: begins (its context can be cancelled at
    // shutdown), leaves the cancel list once gRPC has finished with it
    // (untrack, while the context is still alive), and ends as the last thing
    // its final callback does (op_done: after it, the core may go).
    void op_begin(grpc::ClientContext* ctx);
    void untrack(grpc::ClientContext* ctx);
    void op_done();

    // One unary call on the current endpoint. `start(channel, ctx, req, resp,
    // on_done)` issues it. `done` runs on the io thread, unless the core has
    // stopped by then. `read_only` calls are retried on the next endpoint
    // after UNAVAILABLE, within the same deadline.
    template <class Req, class Resp, class Start>
    void unary(std::string what, Req req, bool read_only, Start start, std::function<void(Result<Resp>)> done);

private:
    template <class Req, class Resp, class Start>
    void attempt(std::shared_ptr<const std::string> what, std::shared_ptr<const Req> req, bool read_only,
                 size_t tries_left, std::chrono::system_clock::time_point deadline, Start start,
                 std::function<void(Result<Resp>)> done);

    boost::asio::io_context& io_;
    ClientOptions opts_;
    std::vector<std::unique_ptr<Channel>> channels_;
    size_t cur_ = 0;
    bool stopped_ = false;
    std::vector<std::shared_ptr<Stoppable>> owned_;
    std::vector<std::weak_ptr<Cancelable>> streams_;

    std::mutex mu_;
    std::condition_variable idle_;
    std::set<grpc::ClientContext*> contexts_;  // in flight; cancelled at shutdown
    size_t ops_ = 0;
};

template <class Req, class Resp>
struct UnaryCall {
    grpc::ClientContext ctx;
    std::shared_ptr<const Req> req;
    Resp resp;
};

template <class Req, class Resp, class Start>
void Core::unary(std::string what, Req req, bool read_only, Start start, std::function<void(Result<Resp>)> done) {
    if (stopped_) return;
    auto deadline = std::chrono::system_clock::now() + opts_.request_timeout;
    attempt<Req, Resp, Start>(std::make_shared<const std::string>(std::move(what)),
                              std::make_shared<const Req>(std::move(req)), read_only, channels_.size(), deadline,
                              std::move(start), std::move(done));
}

template <class Req, class Resp, class Start>
void Core::attempt(std::shared_ptr<const std::string> what, std::shared_ptr<const Req> req, bool read_only,
                   size_t tries_left, std::chrono::system_clock::time_point deadline, Start start,
                   std::function<void(Result<Resp>)> done) {
    size_t ep = cur_;
    auto call = std::make_shared<UnaryCall<Req, Resp>>();
    call->req = req;
    call->ctx.set_deadline(deadline);
    op_begin(&call->ctx);
    std::weak_ptr<Core> weak = weak_from_this();
    Core* self = this;
    start(*channels_[ep], &call->ctx, call->req.get(), &call->resp,
          [self, weak, call, ep, what, req, read_only, tries_left, deadline, start,
           done = std::move(done)](grpc::Status status) mutable {
              // A gRPC thread: hand the answer to the io thread, then let go
              // (op_done last: after it the core may be gone). The call goes
              // with the answer, not kept here too: its context holds a
              // grpc::Channel, and the last of those released on one of
              // gRPC's callback threads (the core gone meanwhile) shuts down
              // that thread's own completion queue under it (gRPC 1.51's
              // CallbackAlternativeCQ joins itself and frees the queue: a
              // double free, seen under ASan in etcd_tests).
              self->untrack(&call->ctx);
              boost::asio::post(self->io_, [weak, call = std::move(call), ep, what = std::move(what), req = std::move(req), read_only,
                                            tries_left, deadline, start = std::move(start), done = std::move(done),
                                            status = std::move(status)]() mutable {
                  auto core = weak.lock();
                  if (!core || core->stopped_) return;
                  if (status.ok()) {
                      done(std::move(call->resp));
                      return;
                  }
                  core->report(ep, status);
                  if (read_only && status.error_code() == grpc::StatusCode::UNAVAILABLE && tries_left > 1 &&
                      std::chrono::system_clock::now() < deadline) {
                      core->attempt<Req, Resp, Start>(std::move(what), std::move(req), read_only, tries_left - 1,
                                                      deadline, std::move(start), std::move(done));
                      return;
                  }
                  done(status_error(*what, core->endpoint(ep).url, status));
              });
              self->op_done();
          });
}

}  // namespace hl::etcd::detail
