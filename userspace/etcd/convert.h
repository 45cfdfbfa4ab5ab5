// Between etcd's protobuf messages and the plain values of types.h; gRPC
// statuses as hl::Error. Internal to userspace/etcd.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "common/error.h"
#include "etcd.pb.h"
#include "etcd/types.h"

namespace hl::etcd::detail {

KeyValue from_proto(const mvccpb::KeyValue& kv);
RangeResult from_proto(const etcdserverpb::RangeResponse& r);
PutResult from_proto(const etcdserverpb::PutResponse& r);
DeleteResult from_proto(const etcdserverpb::DeleteRangeResponse& r);
TxnResult from_proto(const etcdserverpb::TxnResponse& r);
WatchEvent from_proto(const mvccpb::Event& e);

etcdserverpb::RangeRequest to_proto(const std::string& key, const RangeOptions& o);
etcdserverpb::TxnRequest to_proto(const Txn& t);

// "etcd Put /a/b (http://127.0.0.1:2379): UNAVAILABLE: failed to connect ..."
Error status_error(const std::string& what, const std::string& endpoint, const grpc::Status& s);
const char* code_name(grpc::StatusCode c);

}  // namespace hl::etcd::detail
