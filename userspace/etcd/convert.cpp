#include "etcd/convert.h"

namespace hl::etcd {

std::string prefix_end(const std::string& prefix) {
    std::string end = prefix;
    while (!end.empty()) {
        auto& last = reinterpret_cast<unsigned char&>(end.back());
        if (last < 0xff) {
            ++last;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key >= the prefix
}

const char* to_string(WatchStatus::State s) {
    switch (s) {
        case WatchStatus::State::Connected: return "connected";
        case WatchStatus::State::Disconnected: return "disconnected";
        case WatchStatus::State::Compacted: return "compacted";
        case WatchStatus::State::Canceled: return "canceled";
    }
    return "?";
}

namespace detail {

KeyValue from_proto(const mvccpb::KeyValue& kv) {
    return KeyValue{kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease()};
}

RangeResult from_proto(const etcdserverpb::RangeResponse& r) {
    RangeResult out;
    out.revision = r.header().revision();
    out.kvs.reserve(r.kvs_size());
    for (const auto& kv : r.kvs()) out.kvs.push_back(from_proto(kv));
    out.more = r.more();
    out.count = r.count();
    return out;
}

PutResult from_proto(const etcdserverpb::PutResponse& r) {
    PutResult out;
    out.revision = r.header().revision();
    if (r.has_prev_kv()) out.prev = from_proto(r.prev_kv());
    return out;
}

DeleteResult from_proto(const etcdserverpb::DeleteRangeResponse& r) {
    DeleteResult out;
    out.revision = r.header().revision();
    out.deleted = r.deleted();
    for (const auto& kv : r.prev_kvs()) out.prev.push_back(from_proto(kv));
    return out;
}

TxnResult from_proto(const etcdserverpb::TxnResponse& r) {
    TxnResult out;
    out.revision = r.header().revision();
    out.succeeded = r.succeeded();
    for (const auto& op : r.responses()) {
        if (op.has_response_range()) out.ranges.push_back(from_proto(op.response_range()));
    }
    return out;
}

WatchEvent from_proto(const mvccpb::Event& e) {
    WatchEvent out;
    out.type = e.type() == mvccpb::Event::DELETE ? WatchEvent::Type::Delete : WatchEvent::Type::Put;
    out.kv = from_proto(e.kv());
    if (e.has_prev_kv()) out.prev = from_proto(e.prev_kv());
    return out;
}

etcdserverpb::RangeRequest to_proto(const std::string& key, const RangeOptions& o) {
    etcdserverpb::RangeRequest r;
    r.set_key(key);
    if (o.prefix) r.set_range_end(prefix_end(key));
    else if (!o.range_end.empty()) r.set_range_end(o.range_end);
    r.set_revision(o.revision);
    r.set_limit(o.limit);
    r.set_keys_only(o.keys_only);
    r.set_count_only(o.count_only);
    return r;
}

namespace {

void fill(etcdserverpb::Compare& c, const Compare& in) {
    using P = etcdserverpb::Compare;
    c.set_key(in.key);
    switch (in.op) {
        case Compare::Op::Equal: c.set_result(P::EQUAL); break;
        case Compare::Op::Greater: c.set_result(P::GREATER); break;
        case Compare::Op::Less: c.set_result(P::LESS); break;
        case Compare::Op::NotEqual: c.set_result(P::NOT_EQUAL); break;
    }
    switch (in.target) {
        case Compare::Target::Version:
            c.set_target(P::VERSION);
            c.set_version(in.number);
            break;
        case Compare::Target::Create:
            c.set_target(P::CREATE);
            c.set_create_revision(in.number);
            break;
        case Compare::Target::Mod:
            c.set_target(P::MOD);
            c.set_mod_revision(in.number);
            break;
        case Compare::Target::Value:
            c.set_target(P::VALUE);
            c.set_value(in.value);
            break;
        case Compare::Target::Lease:
            c.set_target(P::LEASE);
            c.set_lease(in.number);
            break;
    }
}

void fill(etcdserverpb::RequestOp& r, const TxnOp& op) {
    switch (op.kind) {
        case TxnOp::Kind::Put: {
            auto* p = r.mutable_request_put();
            p->set_key(op.key);
            p->set_value(op.value);
            p->set_lease(op.lease);
            break;
        }
        case TxnOp::Kind::Delete: {
            auto* d = r.mutable_request_delete_range();
            d->set_key(op.key);
            if (op.prefix) d->set_range_end(prefix_end(op.key));
            break;
        }
        case TxnOp::Kind::Range: {
            RangeOptions o;
            o.prefix = op.prefix;
            *r.mutable_request_range() = to_proto(op.key, o);
            break;
        }
    }
}

}  // namespace

etcdserverpb::TxnRequest to_proto(const Txn& t) {
    etcdserverpb::TxnRequest r;
    for (const auto& c : t.compare) fill(*r.add_compare(), c);
    for (const auto& op : t.success) fill(*r.add_success(), op);
    for (const auto& op : t.failure) fill(*r.add_failure(), op);
    return r;
}

const char* code_name(grpc::StatusCode c) {
    switch (c) {
        case grpc::StatusCode::OK: return "OK";
        case grpc::StatusCode::CANCELLED: return "CANCELLED";
        case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
        case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
        case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
        case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
        case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
        case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
        case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
        case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
        case grpc::StatusCode::ABORTED: return "ABORTED";
        case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
        case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
        case grpc::StatusCode::INTERNAL: return "INTERNAL";
        case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
        case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
        case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
        default: return "UNKNOWN_CODE";
    }
}

Error status_error(const std::string& what, const std::string& endpoint, const grpc::Status& s) {
    return Error{"etcd " + what + " (" + endpoint + "): " + code_name(s.error_code()) + ": " + s.error_message()};
}

}  // namespace detail
}  // namespace hl::etcd
