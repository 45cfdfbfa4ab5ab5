// Plain values the etcd client hands out: what etcd v3 stores and answers,
// without protobuf or gRPC types, so users of EtcdClient compile without them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hl::etcd {

struct KeyValue {
    std::string key;
    std::string value;
    int64_t create_revision = 0;  // revision that created the key
    int64_t mod_revision = 0;     // revision of its last change
    int64_t version = 0;          // changes since creation
    int64_t lease = 0;            // 0: no lease

    bool operator==(const KeyValue&) const = default;
};

// Every answer carries the store's revision at the time it was applied: a
// list at revision R is followed by a watch from R + 1.
struct RangeResult {
    int64_t revision = 0;
    std::vector<KeyValue> kvs;
    bool more = false;  // a limit cut the answer short
    int64_t count = 0;  // keys in the range
};

struct PutResult {
    int64_t revision = 0;
    std::optional<KeyValue> prev;  // when asked for
};

struct DeleteResult {
    int64_t revision = 0;
    int64_t deleted = 0;
    std::vector<KeyValue> prev;  // when asked for
};

struct RangeOptions {
    bool prefix = false;     // every key starting with the key given
    std::string range_end;   // else, when set: keys in [key, range_end) (a page of a larger range)
    int64_t revision = 0;    // <= 0: the newest; a compacted one is an error
    int64_t limit = 0;       // 0: all
    bool keys_only = false;
    bool count_only = false;
};

// ---- transactions

struct Compare {
    enum class Target { Version, Create, Mod, Value, Lease };
    enum class Op { Equal, Greater, Less, NotEqual };
    std::string key;
    Target target = Target::Mod;
    Op op = Op::Equal;
    int64_t number = 0;  // for Version, Create, Mod, Lease
    std::string value;   // for Value

    // create_revision == 0: the key does not exist.
    static Compare absent(std::string key) { return {std::move(key), Target::Create, Op::Equal, 0, {}}; }
    static Compare mod_revision_is(std::string key, int64_t rev) {
        return {std::move(key), Target::Mod, Op::Equal, rev, {}};
    }
    static Compare version_is(std::string key, int64_t v) { return {std::move(key), Target::Version, Op::Equal, v, {}}; }
};

struct TxnOp {
    enum class Kind { Put, Delete, Range };
    Kind kind = Kind::Range;
    std::string key;
    std::string value;    // Put
    int64_t lease = 0;    // Put
    bool prefix = false;  // Delete, Range

    static TxnOp put(std::string key, std::string value, int64_t lease = 0) {
        return {Kind::Put, std::move(key), std::move(value), lease, false};
    }
    static TxnOp del(std::string key, bool prefix = false) { return {Kind::Delete, std::move(key), {}, 0, prefix}; }
    static TxnOp get(std::string key, bool prefix = false) { return {Kind::Range, std::move(key), {}, 0, prefix}; }
};

struct Txn {
    std::vector<Compare> compare;  // all must hold ...
    std::vector<TxnOp> success;    // ... for these to run,
    std::vector<TxnOp> failure;    // else these
};

struct TxnResult {
    int64_t revision = 0;
    bool succeeded = false;
    std::vector<RangeResult> ranges;  // one per Range op of the branch that ran, in order
};

// A compare-and-swap's answer. A conflict is not an error: succeeded is
// false and current holds the key as it is now (nullopt: absent).
struct CasResult {
    bool succeeded = false;
    int64_t revision = 0;  // the store's revision; on success, the key's new mod_revision
    std::optional<KeyValue> current;
};

// ---- leases

struct LeaseGrant {
    int64_t id = 0;
    int64_t ttl = 0;  // seconds, as the server chose
};

struct LeaseInfo {
    int64_t id = 0;
    int64_t ttl = -1;  // remaining seconds; -1: expired or unknown
    int64_t granted_ttl = 0;
    std::vector<std::string> keys;  // when asked for
};

// ---- watches

struct WatchEvent {
    enum class Type { Put, Delete };
    Type type = Type::Put;
    KeyValue kv;  // for a Delete: the key, and mod_revision = the delete's revision
    std::optional<KeyValue> prev;  // when asked for (and not yet compacted)
};

// What one watch response delivered: events in revision order.
struct WatchBatch {
    int64_t revision = 0;  // the store's revision when the response was sent
    std::vector<WatchEvent> events;
};

struct WatchOptions {
    std::string key;
    bool prefix = true;         // every key starting with `key`
    int64_t start_revision = 0; // inclusive; 0: from now
    bool prev_kv = false;
};

struct WatchStatus {
    enum class State {
        // The watcher is (again) registered on a member: events from
        // next_revision on will follow.
        Connected,
        // The stream broke (message says why); the client reconnects by
        // itself, through the other endpoints too, and resumes from
        // next_revision: no event is lost or delivered twice.
        Disconnected,
        // next_revision is compacted: the events since then are gone. The
        // watch has ended; the caller lists again and watches from the
        // list's revision + 1.
        Compacted,
        // The server ended the watch for another reason (message). Ended.
        Canceled,
    };
    State state = State::Connected;
    int64_t next_revision = 0;     // the first revision not yet delivered
    int64_t compact_revision = 0;  // Compacted: the oldest revision still held
    std::string message;
};

const char* to_string(WatchStatus::State s);

// "range_end" of a prefix: the key with its last byte incremented, dropping
// trailing 0xff bytes; "\0" (every key) when nothing is left.
std::string prefix_end(const std::string& prefix);

}  // namespace hl::etcd
