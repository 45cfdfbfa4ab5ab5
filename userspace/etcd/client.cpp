#include "etcd/client.h"

#include "etcd/convert.h"
#include "etcd/core.h"
#include "etcd/keep_alive.h"
#include "etcd/watcher.h"

namespace hl::etcd {

using detail::Channel;

Result<std::unique_ptr<EtcdClient>> EtcdClient::create(boost::asio::io_context& io, ClientOptions opts) {
    if (opts.endpoints.empty()) return Error{"etcd: no endpoints"};
    std::vector<Endpoint> eps;
    for (const auto& url : opts.endpoints) {
        auto ep = parse_endpoint(url);
        if (!ep) return ep.error();
        eps.push_back(std::move(*ep));
    }
    auto core = std::make_shared<detail::Core>(io, std::move(opts), std::move(eps));
    return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(core)));
}

EtcdClient::EtcdClient(std::shared_ptr<detail::Core> core) : core_(std::move(core)) {}

EtcdClient::~EtcdClient() { core_->shutdown(); }

const std::string& EtcdClient::current_endpoint() const { return core_->endpoint(core_->current()).url; }

// ---- KV

void EtcdClient::range(std::string key, RangeOptions opts, Callback<RangeResult> cb) {
    auto req = detail::to_proto(key, opts);
    core_->unary<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
        "Range " + key, std::move(req), true,
        [](Channel& c, grpc::ClientContext* ctx, const etcdserverpb::RangeRequest* q, etcdserverpb::RangeResponse* r,
           std::function<void(grpc::Status)> f) { c.kv->async()->Range(ctx, q, r, std::move(f)); },
        [cb = std::move(cb)](Result<etcdserverpb::RangeResponse> r) {
            if (!r) return cb(r.error());
            cb(detail::from_proto(*r));
        });
}

void EtcdClient::put(std::string key, std::string value, int64_t lease, Callback<PutResult> cb) {
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(std::move(value));
    req.set_lease(lease);
    core_->unary<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
        "Put " + key, std::move(req), false,
        [](Channel& c, grpc::ClientContext* ctx, const etcdserverpb::PutRequest* q, etcdserverpb::PutResponse* r,
           std::function<void(grpc::Status)> f) { c.kv->async()->Put(ctx, q, r, std::move(f)); },
        [cb = std::move(cb)](Result<etcdserverpb::PutResponse> r) {
            if (!r) return cb(r.error());
            cb(detail::from_proto(*r));
        });
}

void EtcdClient::del(std::string key, bool prefix, Callback<DeleteResult> cb) {
    etcdserverpb::DeleteRangeRequest req;
    req.set_key(key);
    if (prefix) req.set_range_end(prefix_end(key));
    core_->unary<etcdserverpb::DeleteRangeRequest, etcdserverpb::DeleteRangeResponse>(
        "DeleteRange " + key, std::move(req), false,
        [](Channel& c, grpc::ClientContext* ctx, const etcdserverpb::DeleteRangeRequest* q,
           etcdserverpb::DeleteRangeResponse* r,
           std::function<void(grpc::Status)> f) { c.kv->async()->DeleteRange(ctx, q, r, std::move(f)); },
        [cb = std::move(cb)](Result<etcdserverpb::DeleteRangeResponse> r) {
            if (!r) return cb(r.error());
            cb(detail::from_proto(*r));
        });
}

void EtcdClient::txn(Txn t, Callback<TxnResult> cb) {
    std::string what = "Txn";
    if (!t.compare.empty()) what += " " + t.compare.front().key;
    core_->unary<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
        std::move(what), detail::to_proto(t), false,
        [](Channel& c, grpc::ClientContext* ctx, const etcdserverpb::TxnRequest* q, etcdserverpb::TxnResponse* r,
           std::function<void(grpc::Status)> f) { c.kv->async()->Txn(ctx, q, r, std::move(f)); },
        [cb = std::move(cb)](Result<etcdserverpb::TxnResponse> r) {
            if (!r) return cb(r.error());
            cb(detail::from_proto(*r));
        });
}

namespace {

// The failure branch of every CAS reads the key, so a conflict says what won.
void cas(EtcdClient& c, std::string key, Compare cmp, TxnOp op, Callback<CasResult> cb) {
    Txn t;
    t.compare.push_back(std::move(cmp));
    t.success.push_back(std::move(op));
    t.failure.push_back(TxnOp::get(key));
    c.txn(std::move(t), [cb = std::move(cb)](Result<TxnResult> r) {
        if (!r) return cb(r.error());
        CasResult out;
        out.succeeded = r->succeeded;
        out.revision = r->revision;
        if (!r->succeeded && !r->ranges.empty() && !r->ranges.front().kvs.empty()) {
            out.current = std::move(r->ranges.front().kvs.front());
        }
        cb(std::move(out));
    });
}

}  // namespace

void EtcdClient::create_if_absent(std::string key, std::string value, int64_t lease, Callback<CasResult> cb) {
    cas(*this, key, Compare::absent(key), TxnOp::put(key, std::move(value), lease), std::move(cb));
}

void EtcdClient::update_if_unchanged(std::string key, std::string value, int64_t mod_revision, int64_t lease,
                                     Callback<CasResult> cb) {
    cas(*this, key, Compare::mod_revision_is(key, mod_revision), TxnOp::put(key, std::move(value), lease),
        std::move(cb));
}

void EtcdClient::delete_if_unchanged(std::string key, int64_t mod_revision, Callback<CasResult> cb) {
    cas(*this, key, Compare::mod_revision_is(key, mod_revision), TxnOp::del(key), std::move(cb));
}

void EtcdClient::compact(int64_t revision, bool physical, Callback<int64_t> cb) {
    etcdserverpb::CompactionRequest req;
    req.set_revision(revision);
    req.set_physical(physical);
    core_->unary<etcdserverpb::CompactionRequest, etcdserverpb::CompactionResponse>(
        "Compact " + std::to_string(revision), std::move(req), false,
        [](Channel& c, grpc::ClientContext* ctx, const etcdserverpb::CompactionRequest* q,
           etcdserverpb::CompactionResponse* r,
           std::function<void(grpc::Status)> f) { c.kv->async()->Compact(ctx, q, r, std::move(f)); },
        [cb = std::move(cb)](Result<etcdserverpb::CompactionResponse> r) {
            if (!r) return cb(r.error());
            cb(r->header().revision());
        });
}

// ---- Lease

void EtcdClient::lease_grant(int64_t ttl_seconds, Callback<LeaseGrant> cb) {
    etcdserverpb::LeaseGrantRequest req;
    req.set_ttl(ttl_seconds);
    // Retried like a read: a grant lost on the way leaves at worst an unused
    // lease, which expires by itself.
    core_->unary<etcdserverpb::LeaseGrantRequest, etcdserverpb::LeaseGrantResponse>(
        "LeaseGrant", std::move(req), true,
        [](Channel& c, grpc::ClientContext* ctx, const etcdserverpb::LeaseGrantRequest* q,
           etcdserverpb::LeaseGrantResponse* r,
           std::function<void(grpc::Status)> f) { c.lease->async()->LeaseGrant(ctx, q, r, std::move(f)); },
        [cb = std::move(cb)](Result<etcdserverpb::LeaseGrantResponse> r) {
            if (!r) return cb(r.error());
            if (!r->error().empty()) return cb(Error{"etcd LeaseGrant: " + r->error()});
            cb(LeaseGrant{r->id(), r->ttl()});
        });
}

void EtcdClient::lease_revoke(int64_t id, Callback<Ok> cb) {
    etcdserverpb::LeaseRevokeRequest req;
    req.set_id(id);
    core_->unary<etcdserverpb::LeaseRevokeRequest, etcdserverpb::LeaseRevokeResponse>(
        "LeaseRevoke " + std::to_string(id), std::move(req), false,
        [](Channel& c, grpc::ClientContext* ctx, const etcdserverpb::LeaseRevokeRequest* q,
           etcdserverpb::LeaseRevokeResponse* r,
           std::function<void(grpc::Status)> f) { c.lease->async()->LeaseRevoke(ctx, q, r, std::move(f)); },
        [cb = std::move(cb)](Result<etcdserverpb::LeaseRevokeResponse> r) {
            if (!r) return cb(r.error());
            cb(Ok{});
        });
}

void EtcdClient::lease_time_to_live(int64_t id, bool keys, Callback<LeaseInfo> cb) {
    etcdserverpb::LeaseTimeToLiveRequest req;
    req.set_id(id);
    req.set_keys(keys);
    core_->unary<etcdserverpb::LeaseTimeToLiveRequest, etcdserverpb::LeaseTimeToLiveResponse>(
        "LeaseTimeToLive " + std::to_string(id), std::move(req), true,
        [](Channel& c, grpc::ClientContext* ctx, const etcdserverpb::LeaseTimeToLiveRequest* q,
           etcdserverpb::LeaseTimeToLiveResponse* r,
           std::function<void(grpc::Status)> f) { c.lease->async()->LeaseTimeToLive(ctx, q, r, std::move(f)); },
        [cb = std::move(cb)](Result<etcdserverpb::LeaseTimeToLiveResponse> r) {
            if (!r) return cb(r.error());
            LeaseInfo info;
            info.id = r->id();
            info.ttl = r->ttl();
            info.granted_ttl = r->grantedttl();
            for (const auto& k : r->keys()) info.keys.push_back(k);
            cb(std::move(info));
        });
}

KeepAliveHandle EtcdClient::keep_alive(int64_t id, int64_t ttl_seconds, std::function<void(const Error&)> on_lost,
                                       std::function<void(int64_t)> on_renewed) {
    if (core_->stopped()) return {};
    auto k = std::make_shared<detail::KeepAlive>(*core_, id, ttl_seconds, std::move(on_lost), std::move(on_renewed));
    core_->adopt(k);
    k->start();
    return KeepAliveHandle(k);
}

// ---- Watch

WatchHandle EtcdClient::watch(WatchOptions opts, std::function<void(WatchBatch)> on_events,
                              std::function<void(const WatchStatus&)> on_status) {
    if (core_->stopped()) return {};
    auto w = std::make_shared<detail::Watcher>(*core_, std::move(opts), std::move(on_events), std::move(on_status));
    core_->adopt(w);
    w->start();
    return WatchHandle(w);
}

}  // namespace hl::etcd
