#include "cluster/etcd_source.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include "cluster/etcd_cache.h"
#include "discovery/etcd_layout.h"

namespace hl::cluster {

namespace layout = etcd_layout;

namespace {

// etcd refuses a range at a compacted revision with OUT_OF_RANGE ("mvcc:
// required revision has been compacted"): the list starts over at the newest.
bool compacted(const Error& e) {
    return e.message.find("OUT_OF_RANGE") != std::string::npos || e.message.find("compacted") != std::string::npos;
}

int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

constexpr size_t kSkippedLogLimit = 10;  // per list: one bad writer must not flood the log

}  // namespace

// One list in progress. Pages go into the registry as they come (nothing
// holds the whole list); a service's endpoints are handed over whole, so
// the last service of a page waits for the next page.
struct EtcdSource::ListRun {
    uint64_t gen = 0;
    int64_t revision = 0;  // 0 until the first page fixed it
    std::string next_key;
    size_t keys = 0, skipped = 0, services = 0, endpoints = 0;
    std::optional<std::pair<Registry::Name, std::vector<RemoteEndpoint>>> group;  // the service being read
    std::set<std::string> hosts;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

void EtcdSource::flush_group(ListRun& run) {
    if (!run.group) return;
    reg_.list_remote_endpoints(run.group->first, std::move(run.group->second));
    run.group.reset();
}

EtcdSource::EtcdSource(boost::asio::io_context& io, etcd::EtcdClient& client, Registry& reg, Options o,
                       EtcdCounters& counters, Changed changed)
    : io_(io),
      client_(client),
      reg_(reg),
      opts_(std::move(o)),
      root_(layout::root(opts_.prefix)),
      counters_(counters),
      changed_(std::move(changed)),
      retry_timer_(io),
      away_timer_(io),
      backoff_(opts_.retry_min),
      cache_timer_(io) {}

void EtcdSource::load_cache() {
    if (opts_.cache_path.empty()) return;
    ListRun run;
    reg_.begin_etcd_list();
    auto h = read_etcd_cache(opts_.cache_path, opts_.prefix, [&](etcd::KeyValue kv) { add(run, kv); });
    flush_group(run);
    // No cache (or another prefix's): the list adds nothing, removes nothing.
    if (!h) {
        if (h.error().err != ENOENT) spdlog::warn("etcd: cache not used: {}", h.error().what());
        return;
    }
    (void)reg_.end_etcd_list();
    hosts_ = std::move(run.hosts);
    spdlog::info("etcd: restored the last state seen (revision {}): {} services, {} endpoints of other hosts{}; in "
                 "force until etcd's list replaces it",
                 h->revision, run.services, run.endpoints,
                 h->bad + run.skipped ? fmt::format(", {} lines skipped", h->bad + run.skipped) : "");
}

void EtcdSource::save_cache() {
    if (opts_.cache_path.empty() || !cache_dirty_) return;
    const auto t0 = std::chrono::steady_clock::now();
    if (auto st = save_etcd_cache(opts_.cache_path, opts_.prefix, revision_, reg_); !st) {
        if (!cache_failed_) spdlog::warn("etcd: cannot keep the last state seen: {}", st.error().what());
        cache_failed_ = true;
        return;
    }
    cache_saved_ = std::chrono::steady_clock::now();
    cache_cost_ = cache_saved_ - t0;
    cache_failed_ = false;
    cache_dirty_ = false;
}

// The cache follows the watch a moment later: at most one write a second,
// and no more than 2% of the io thread's time (a write of a large
// cluster's state takes a while).
void EtcdSource::cache_changed() {
    cache_dirty_ = true;
    if (cache_pending_ || opts_.cache_path.empty()) return;
    cache_pending_ = true;
    auto gap = std::max<std::chrono::steady_clock::duration>(std::chrono::seconds(1), cache_cost_ * 50);
    cache_timer_.expires_at(std::max(std::chrono::steady_clock::now(), cache_saved_ + gap));
    cache_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        cache_pending_ = false;
        save_cache();
    });
}

void EtcdSource::start() {
    // Away until the first list says otherwise (the log line only after a
    // moment: a start is not an outage).
    away_since_ = std::chrono::steady_clock::now();
    away_why_ = "not listed yet";
    counters_.away_since_ms = wall_ms();
    log_away();
    list();
}

void EtcdSource::list() {
    watch_.reset();
    watching_ = false;
    auto run = std::make_shared<ListRun>();
    run->gen = ++list_gen_;
    run->next_key = root_;
    // A list that breaks off half-way leaves what it applied (each service
    // whole): the next one starts afresh and removes only at its end.
    reg_.begin_etcd_list();
    skipped_logged_ = 0;
    list_page(std::move(run));
}

void EtcdSource::list_page(std::shared_ptr<ListRun> run) {
    etcd::RangeOptions o;
    o.range_end = etcd::prefix_end(root_);
    o.revision = run->revision;  // every page at the first page's revision: one snapshot
    o.limit = opts_.page_size;
    std::string key = run->next_key;
    client_.range(std::move(key), o, [this, run](Result<etcd::RangeResult> r) {
        if (run->gen != list_gen_) return;
        if (!r) {
            if (run->revision && compacted(r.error())) {
                // Compacted between two pages: a new snapshot at the newest revision.
                spdlog::info("etcd: list at revision {} was compacted under it; listing again", run->revision);
                list();
                return;
            }
            retry_list(r.error().what());
            return;
        }
        if (!run->revision) run->revision = r->revision;
        for (const auto& kv : r->kvs) add(*run, kv);
        if (r->more && !r->kvs.empty()) {
            run->next_key = r->kvs.back().key;
            run->next_key.push_back('\0');  // the first key after the last one read
            list_page(run);
            return;
        }
        finish_list(run);
    });
}

void EtcdSource::skipped(const std::string& key, const std::string& why) {
    if (skipped_logged_++ < kSkippedLogLimit) spdlog::warn("etcd: skipped {}: {}", key.substr(0, 200), why);
}

void EtcdSource::add(ListRun& run, const etcd::KeyValue& kv) {
    ++run.keys;
    auto k = layout::parse_key(opts_.prefix, kv.key);
    if (!k) {
        ++run.skipped;
        skipped(kv.key, k.error().what());
        return;
    }
    if (auto* sk = std::get_if<layout::ServiceKey>(&*k)) {
        auto s = layout::parse_service_value(kv.value, *sk);
        if (!s) {
            ++run.skipped;
            skipped(kv.key, s.error().what());
            return;
        }
        ++run.services;
        reg_.list_etcd_service(std::move(*s), kv.mod_revision);
    } else if (auto* ek = std::get_if<layout::EndpointKey>(&*k)) {
        if (ek->host == opts_.self_host) return;  // this host's own: its registrations are the truth
        auto v = layout::parse_endpoint_value(kv.value);
        if (!v) {
            ++run.skipped;
            skipped(kv.key, v.error().what());
            return;
        }
        // Keys come sorted: a service's endpoints one after another.
        if (run.group && (run.group->first.first != ek->ns || run.group->first.second != ek->name)) flush_group(run);
        if (!run.group) run.group.emplace(Registry::Name{ek->ns, ek->name}, std::vector<RemoteEndpoint>{});
        run.group->second.push_back(
            RemoteEndpoint{std::move(ek->id), v->address, reg_.host_id(ek->host), v->port, v->weight});
        ++run.endpoints;
    } else if (auto* hk = std::get_if<layout::HostKey>(&*k)) {
        run.hosts.insert(hk->host);
    }
}

void EtcdSource::finish_list(std::shared_ptr<ListRun> run) {
    flush_group(*run);
    const size_t services = run->services, endpoints = run->endpoints;
    auto problems = reg_.end_etcd_list();
    for (size_t i = 0; i < problems.size() && i < kSkippedLogLimit; ++i)
        spdlog::warn("etcd: definition not applied: {}", problems[i]);
    revision_ = run->revision;
    hosts_ = std::move(run->hosts);
    listed_ = true;
    counters_.relists++;
    spdlog::info("etcd: listed {} keys at revision {} in {:.0f} ms: {} services, {} endpoints of other hosts, {} hosts{}",
                 run->keys, run->revision, seconds_since(run->started) * 1000, services, endpoints, hosts_.size(),
                 run->skipped ? fmt::format(", {} keys skipped", run->skipped) : std::string());
    cache_dirty_ = true;
    save_cache();
    changed_("etcd list");
    watch();
}

void EtcdSource::watch() {
    etcd::WatchOptions w;
    w.key = root_;
    w.prefix = true;
    w.start_revision = revision_ + 1;
    watch_ = client_.watch(
        std::move(w), [this](etcd::WatchBatch b) { on_events(std::move(b)); },
        [this](const etcd::WatchStatus& st) { on_status(st); });
}

bool EtcdSource::apply_put(const etcd::KeyValue& kv) {
    auto k = layout::parse_key(opts_.prefix, kv.key);
    if (!k) {
        skipped(kv.key, k.error().what());
        return false;
    }
    if (auto* sk = std::get_if<layout::ServiceKey>(&*k)) {
        auto s = layout::parse_service_value(kv.value, *sk);
        if (!s) {
            skipped(kv.key, s.error().what());
            return false;
        }
        auto r = reg_.put_etcd_service(std::move(*s), kv.mod_revision);
        if (auto* e = std::get_if<RegistryError>(&r)) {
            spdlog::warn("etcd: definition of {}/{} not applied: {}", sk->ns, sk->name, e->message);
            return false;
        }
        return std::get<bool>(r);
    }
    if (auto* ek = std::get_if<layout::EndpointKey>(&*k)) {
        if (ek->host == opts_.self_host) return false;
        auto v = layout::parse_endpoint_value(kv.value);
        if (!v) {
            skipped(kv.key, v.error().what());
            return false;
        }
        return reg_.put_remote_endpoint({ek->ns, ek->name},
                                        RemoteEndpoint{ek->id, v->address, reg_.host_id(ek->host), v->port, v->weight});
    }
    if (auto* hk = std::get_if<layout::HostKey>(&*k)) {
        if (hosts_.insert(hk->host).second && hk->host != opts_.self_host) spdlog::info("etcd: host {} joined", hk->host);
    }
    return false;
}

bool EtcdSource::apply_delete(const std::string& key) {
    auto k = layout::parse_key(opts_.prefix, key);
    if (!k) return false;  // never applied either
    if (auto* sk = std::get_if<layout::ServiceKey>(&*k)) return reg_.delete_etcd_service({sk->ns, sk->name});
    if (auto* ek = std::get_if<layout::EndpointKey>(&*k)) {
        if (ek->host == opts_.self_host) return false;
        return reg_.delete_remote_endpoint({ek->ns, ek->name}, reg_.host_id(ek->host), ek->id);
    }
    if (auto* hk = std::get_if<layout::HostKey>(&*k)) {
        // A host's record goes with its lease: it died (or was cut off for
        // longer than lease_ttl); its endpoints' deletes come in this batch.
        if (hosts_.erase(hk->host) && hk->host != opts_.self_host)
            spdlog::info("etcd: host {} left (its lease ended): its endpoints leave every service", hk->host);
    }
    return false;
}

void EtcdSource::on_events(etcd::WatchBatch b) {
    bool changed = false;
    size_t puts = 0, deletes = 0;
    for (const auto& e : b.events) {
        if (e.type == etcd::WatchEvent::Type::Put) {
            changed |= apply_put(e.kv);
            ++puts;
        } else {
            changed |= apply_delete(e.kv.key);
            ++deletes;
        }
    }
    if (!b.events.empty()) revision_ = std::max(revision_, b.events.back().kv.mod_revision);
    spdlog::debug("etcd: {} puts, {} deletes up to revision {}", puts, deletes, revision_);
    if (!changed) return;
    cache_changed();
    changed_("etcd watch");
}

void EtcdSource::on_status(const etcd::WatchStatus& st) {
    using S = etcd::WatchStatus::State;
    switch (st.state) {
        case S::Connected:
            if (watching_) counters_.watch_restarts++;
            watching_ = true;
            backoff_ = opts_.retry_min;
            went_up();
            return;
        case S::Disconnected:
            went_away(st.message);
            return;  // the watch resumes by itself, from the last revision seen
        case S::Compacted:
            counters_.watch_restarts++;
            spdlog::info("etcd: {}", st.message);
            list();
            return;
        case S::Canceled:
            went_away(st.message);
            retry_list(st.message);
            return;
    }
}

void EtcdSource::retry_list(const std::string& why) {
    went_away(why);
    watch_.reset();
    auto delay = backoff_;
    backoff_ = std::min(backoff_ * 2, opts_.retry_max);
    spdlog::debug("etcd: list failed ({}); again in {} ms", why, delay.count());
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([this, gen = list_gen_](const boost::system::error_code& ec) {
        if (ec || gen != list_gen_) return;
        list();
    });
}

void EtcdSource::went_up() {
    if (up_) return;
    up_ = true;
    counters_.up = true;
    counters_.away_since_ms = 0;
    if (away_since_ && away_why_ != "not listed yet")
        spdlog::info("etcd: reachable again after {:.1f} s (watching from revision {} on {})",
                     seconds_since(*away_since_), revision_ + 1, client_.current_endpoint());
    else
        spdlog::info("etcd: in sync (watching from revision {} on {})", revision_ + 1, client_.current_endpoint());
    away_since_.reset();
    away_timer_.cancel();
}

void EtcdSource::went_away(const std::string& why) {
    away_why_ = why;
    if (!up_ && !listed_ && !warned_unlisted_) {
        warned_unlisted_ = true;
        spdlog::warn("etcd: unreachable ({}); retrying; the other hosts' services and endpoints come once it answers",
                     why);
    }
    if (!up_) return;
    up_ = false;
    counters_.up = false;
    away_since_ = std::chrono::steady_clock::now();
    counters_.away_since_ms = wall_ms();
    spdlog::warn("etcd: unreachable ({}); this host keeps the last state it saw, and its datapath works on", why);
    log_away();
}

// While etcd is away: a line every away_log_every, saying for how long.
void EtcdSource::log_away() {
    away_timer_.expires_after(opts_.away_log_every);
    away_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || up_ || !away_since_) return;
        spdlog::warn("etcd: away for {:.0f} s ({}); serving the last state seen (revision {})",
                     std::round(seconds_since(*away_since_)), away_why_, revision_);
        log_away();
    });
}

}  // namespace hl::cluster
