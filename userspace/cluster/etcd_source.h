// The etcd source of the registry: what the cluster's hosts share, read
// into this host's registry (docs/ETCD.md "Reads").
//
//   list   <prefix>/v1/ in pages, all at one revision R, each page into the
//          registry as it comes (a service's endpoints whole); at its end
//          what the list no longer held leaves, nothing else (only what
//          changed is dirty)
//   watch  from R + 1: each put/delete to the registry, a batch at a time;
//          a broken stream resumes by itself from the last revision seen
//   compacted -> list again
//
// Nothing is removed because etcd is unreachable: the last state stays in
// force; `up` says whether etcd is listed and watched, and the log how long
// it has been away. Keys under this host's own name are skipped (its own
// registrations are the truth here). A key or value that does not parse is
// skipped with a log line naming it: one bad writer cannot empty a service.
//
// Runs on the io thread; the client's callbacks come there too.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "cluster/etcd_counters.h"
#include "etcd/client.h"
#include "registry/registry.h"

namespace hl::cluster {

class EtcdSource {
public:
    // The registry changed (its dirty services are to be applied).
    using Changed = std::function<void(const char* why)>;
    struct Options {
        std::string prefix = "/hopless";
        std::string self_host;
        // Keys per range call of a list. etcd 3.4 counts every key of the
        // range for each page (its answer's `count`), so a page costs the
        // whole range on the server: few large pages (~1.5 MB each) beat
        // many small ones.
        int64_t page_size = 10000;
        std::chrono::milliseconds retry_min{250}, retry_max{2000};
        std::chrono::seconds away_log_every{30};
        std::string cache_path;  // the last state seen, kept across restarts (etcd_cache.h); empty: none
    };
    EtcdSource(boost::asio::io_context& io, etcd::EtcdClient& client, Registry& reg, Options o,
               EtcdCounters& counters, Changed changed);
    EtcdSource(const EtcdSource&) = delete;
    EtcdSource& operator=(const EtcdSource&) = delete;

    // The cached state of the last run into the registry (before start: it
    // is in force until the first list replaces it).
    void load_cache();
    void start();
    // Writes the cache now (at exit).
    void save_cache();
    // The last revision applied (list or watch): a write of this host whose
    // revision is not above it is in the registry already.
    int64_t revision() const { return revision_; }
    bool up() const { return up_; }
    // Since when etcd has been away (steady clock), when it is.
    std::optional<std::chrono::steady_clock::time_point> away_since() const { return away_since_; }
    size_t hosts_seen() const { return hosts_.size(); }

private:
    struct ListRun;
    void list();
    void list_page(std::shared_ptr<ListRun> run);
    void finish_list(std::shared_ptr<ListRun> run);
    void add(ListRun& run, const etcd::KeyValue& kv);
    void flush_group(ListRun& run);
    void watch();
    void on_events(etcd::WatchBatch b);
    void on_status(const etcd::WatchStatus& st);
    bool apply_put(const etcd::KeyValue& kv);
    bool apply_delete(const std::string& key);
    void retry_list(const std::string& why);
    void went_up();
    void went_away(const std::string& why);
    void log_away();
    void skipped(const std::string& key, const std::string& why);
    void cache_changed();

    boost::asio::io_context& io_;
    etcd::EtcdClient& client_;
    Registry& reg_;
    Options opts_;
    std::string root_;
    EtcdCounters& counters_;
    Changed changed_;
    etcd::WatchHandle watch_;
    boost::asio::steady_timer retry_timer_;
    boost::asio::steady_timer away_timer_;
    std::chrono::milliseconds backoff_;
    uint64_t list_gen_ = 0;  // a newer list makes an older one's answers stale
    int64_t revision_ = 0;
    bool listed_ = false;    // a list has been applied since start
    bool up_ = false;
    bool watching_ = false;  // the watch was connected at least once since the last list
    bool warned_unlisted_ = false;
    std::optional<std::chrono::steady_clock::time_point> away_since_;
    std::string away_why_;
    std::set<std::string> hosts_;  // hosts/<host> keys seen: live hosts
    size_t skipped_logged_ = 0;    // bad keys logged since the last list (bounded)
    bool cache_dirty_ = false;     // the registry's etcd part changed since the cache was written
    bool cache_failed_ = false;    // logged once
    bool cache_pending_ = false;   // a write is scheduled
    std::chrono::steady_clock::duration cache_cost_{};  // how long the last write took
    std::chrono::steady_clock::time_point cache_saved_{};
    boost::asio::steady_timer cache_timer_;
};

}  // namespace hl::cluster
