#include "cluster/publisher.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "discovery/etcd_layout.h"

namespace hl::cluster {

namespace layout = etcd_layout;

namespace {

std::string lease_name(int64_t id) { return fmt::format("{:x}", id); }  // as etcdctl prints it

std::string rfc3339_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

bool lease_gone(const Error& e) { return e.message.find("lease not found") != std::string::npos; }

}  // namespace

Publisher::Publisher(boost::asio::io_context& io, etcd::EtcdClient& client, const Registry& reg, Options o,
                     EtcdCounters& counters)
    : io_(io),
      client_(client),
      reg_(reg),
      opts_(std::move(o)),
      host_key_(layout::host_key(opts_.prefix, opts_.host)),
      counters_(counters),
      started_(rfc3339_now()),
      backoff_(opts_.retry_min),
      timer_(io) {}

std::string Publisher::record() const {
    return nlohmann::json{{"instance", opts_.instance}, {"pid", ::getpid()}, {"started", started_}}.dump();
}

void Publisher::start() { claim(); }

void Publisher::after(std::chrono::milliseconds d, void (Publisher::*f)()) {
    timer_.expires_after(d);
    timer_.async_wait([this, f, epoch = epoch_](const boost::system::error_code& ec) {
        if (ec || epoch != epoch_) return;
        (this->*f)();
    });
}

void Publisher::retry_claim(const std::string& why) {
    auto d = backoff_;
    backoff_ = std::min(backoff_ * 2, opts_.retry_max);
    spdlog::debug("etcd: claiming host {} failed ({}); again in {} ms", opts_.host, why, d.count());
    after(d, &Publisher::claim);
}

// Whose is hosts/<host>? Decides between a new lease, adopting this
// daemon's own from before a restart, and standing aside.
void Publisher::claim() {
    client_.range(host_key_, {}, [this, epoch = epoch_](Result<etcd::RangeResult> r) {
        if (epoch != epoch_) return;
        if (!r) return retry_claim(r.error().what());
        if (r->kvs.empty()) return grant();
        const auto& kv = r->kvs.front();
        auto j = nlohmann::json::parse(kv.value, nullptr, false);
        std::string instance = j.is_object() && j.contains("instance") && j["instance"].is_string()
                                   ? j["instance"].get<std::string>()
                                   : std::string();
        if (instance == opts_.instance && kv.lease != 0) return adopt(kv.lease);
        if (!name_taken_)
            spdlog::error("etcd: host name '{}' is held by another hoplessd ({}, lease {}): this host's registrations "
                          "are not published until that record's lease ends (set etcd.host to tell them apart)",
                          opts_.host, kv.value.substr(0, 200), lease_name(kv.lease));
        name_taken_ = true;
        after(std::chrono::seconds(std::max<int64_t>(1, opts_.lease_ttl / 2)), &Publisher::claim);
    });
}

void Publisher::grant() {
    client_.lease_grant(opts_.lease_ttl, [this, epoch = epoch_](Result<etcd::LeaseGrant> g) {
        if (epoch != epoch_) return;
        if (!g) return retry_claim(g.error().what());
        int64_t id = g->id;
        client_.create_if_absent(host_key_, record(), id, [this, epoch, id](Result<etcd::CasResult> r) {
            if (epoch != epoch_) return;
            if (!r || !r->succeeded) {
                // Someone (maybe this daemon, a moment ago) has the record:
                // the unused lease goes, and the record decides again.
                client_.lease_revoke(id, [](Result<Ok>) {});
                if (!r) return retry_claim(r.error().what());
                return claim();
            }
            counters_.lease_grants++;
            hold(id, "granted");
        });
    });
}

// This daemon's record from before a restart: its lease lives on if etcd
// still has it; keys under it that are no longer registered here go.
void Publisher::adopt(int64_t lease) {
    client_.lease_time_to_live(lease, true, [this, epoch = epoch_, lease](Result<etcd::LeaseInfo> info) {
        if (epoch != epoch_) return;
        if (!info) return retry_claim(info.error().what());
        if (info->ttl <= 0) return grant();  // it expired a moment ago: its record goes with it
        size_t stale = 0;
        for (const auto& key : info->keys) {
            auto k = layout::parse_key(opts_.prefix, key);
            if (!k) continue;
            auto* ek = std::get_if<layout::EndpointKey>(&*k);
            if (!ek || ek->host != opts_.host) continue;
            Registry::Name n{ek->ns, ek->name};
            if (!reg_.find_registration(n, ek->id)) {
                pending_.insert({std::move(n), ek->id});
                ++stale;
            }
        }
        if (stale) spdlog::info("etcd: {} keys of this host's lease are no longer registered here: deleting them", stale);
        // The record says who holds it now.
        client_.put(host_key_, record(), lease, [](Result<etcd::PutResult>) {});
        hold(lease, "adopted (a restart within its ttl)");
    });
}

void Publisher::hold(int64_t lease, const char* how) {
    lease_ = lease;
    ++epoch_;
    name_taken_ = false;
    backoff_ = opts_.retry_min;
    keep_alive_ = client_.keep_alive(
        lease, opts_.lease_ttl, [this, lease](const Error& e) { if (lease == lease_) lost(e.what()); },
        [this](int64_t) { counters_.lease_renewals++; });
    walking_ = true;
    walk_name_ = {};
    walk_id_.clear();
    spdlog::info("etcd: host {} holds lease {} ({}, ttl {} s); publishing its {} registrations", opts_.host,
                 lease_name(lease), how, opts_.lease_ttl, reg_.registration_count());
    pump();
}

void Publisher::lost(const std::string& why) {
    counters_.lease_lost++;
    spdlog::warn("etcd: lease {} lost ({}): the other hosts saw this host's endpoints leave; granting a new lease and "
                 "publishing them again",
                 lease_name(lease_), why);
    keep_alive_.reset();
    lease_ = 0;
    ++epoch_;
    stalled_ = false;
    timer_.cancel();
    claim();
}

void Publisher::changed(const Registry::Name& name, const std::string& id) {
    if (pending_.size() >= opts_.max_pending) {
        // A long outage under heavy churn: rather than remember every
        // change, publish everything again and sweep what is left over.
        spdlog::warn("etcd: over {} unpublished changes: publishing every registration again when etcd answers",
                     opts_.max_pending);
        pending_.clear();
        walking_ = true;
        walk_name_ = {};
        walk_id_.clear();
        sweep_needed_ = true;
    } else {
        pending_.insert({name, id});
    }
    pump();
}

void Publisher::pump() {
    if (!lease_ || stalled_) return;
    if (sweep_needed_) return sweep();
    while (inflight_ < opts_.max_inflight) {
        std::vector<Item> batch;
        // A key already in flight waits in pending_ for its answer. At most
        // inflight_items_ entries are skipped over here.
        for (auto it = pending_.begin(); it != pending_.end() && batch.size() < opts_.batch;) {
            if (inflight_keys_.count(*it)) {
                ++it;
                continue;
            }
            inflight_keys_.insert(*it);
            batch.push_back(pending_.extract(it++).value());
        }
        if (batch.size() < opts_.batch && walking_) {
            size_t room = opts_.batch - batch.size();
            bool more = false;
            reg_.walk_registrations(walk_name_, walk_id_, [&](const Registry::Name& n, const Registration& r) {
                if (room == 0) {
                    walk_name_ = n;
                    walk_id_ = r.id;
                    more = true;
                    return false;
                }
                Item item{n, r.id};
                if (inflight_keys_.count(item)) {  // in flight (or in this batch): after its answer
                    pending_.insert(std::move(item));
                    return true;
                }
                inflight_keys_.insert(item);
                batch.push_back(std::move(item));
                --room;
                return true;
            });
            if (!more) walking_ = false;
        }
        if (batch.empty()) return;
        send(std::move(batch));
    }
}

void Publisher::send(std::vector<Item> items) {
    etcd::Txn t;
    for (const auto& [n, id] : items) {
        std::string key = layout::endpoint_key(opts_.prefix, n.first, n.second, opts_.host, id);
        if (const Registration* r = reg_.find_registration(n, id))
            t.success.push_back(etcd::TxnOp::put(std::move(key),
                                                 layout::endpoint_value({r->address, r->port, r->weight}), lease_));
        else
            t.success.push_back(etcd::TxnOp::del(std::move(key)));
    }
    ++inflight_;
    inflight_items_ += items.size();
    client_.txn(std::move(t), [this, epoch = epoch_, items = std::move(items)](Result<etcd::TxnResult> r) mutable {
        --inflight_;
        inflight_items_ -= items.size();
        for (const auto& it : items) inflight_keys_.erase(it);
        if (epoch != epoch_ || !r) {
            // Not written, or written under a lease that is gone: again,
            // with what the registry holds then.
            for (auto& it : items) pending_.insert(std::move(it));
        }
        if (epoch != epoch_) return;  // the new lease's walk is on its way
        if (!r) {
            if (lease_gone(r.error())) return lost(r.error().what());
            if (!failing_)
                spdlog::warn("etcd: publishing this host's endpoints failed ({}); they are in force here, and go out "
                             "when etcd answers",
                             r.error().what());
            failing_ = true;
            stalled_ = true;
            auto d = backoff_;
            backoff_ = std::min(backoff_ * 2, opts_.retry_max);
            after(d, &Publisher::unstall);
            return;
        }
        if (failing_) spdlog::info("etcd: publishing again ({} changes waiting)", pending_.size());
        failing_ = false;
        backoff_ = opts_.retry_min;
        pump();
    });
}

// The lease's keys that are not registered here any more (after changes
// were dropped for being too many).
void Publisher::sweep() {
    sweep_needed_ = false;
    stalled_ = true;
    client_.lease_time_to_live(lease_, true, [this, epoch = epoch_](Result<etcd::LeaseInfo> info) {
        if (epoch != epoch_) return;
        stalled_ = false;
        if (!info) {
            sweep_needed_ = true;
            stalled_ = true;
            after(backoff_, &Publisher::unstall);
            return;
        }
        for (const auto& key : info->keys) {
            auto k = layout::parse_key(opts_.prefix, key);
            if (!k) continue;
            auto* ek = std::get_if<layout::EndpointKey>(&*k);
            if (!ek || ek->host != opts_.host) continue;
            Registry::Name n{ek->ns, ek->name};
            if (!reg_.find_registration(n, ek->id)) pending_.insert({std::move(n), ek->id});
        }
        pump();
    });
}

}  // namespace hl::cluster
