#include "daemon/daemon.h"

#include <spdlog/spdlog.h>

#include <arpa/inet.h>

#include <chrono>
#include <csignal>
#include <cstring>

#include "bpf/cgroup.h"
#include "daemon/api_handler.h"
#include "daemon/cluster_module.h"
#include "discovery/config_file.h"

namespace hl {

namespace {
std::optional<std::string> check_cgroup(const std::string& path) {
    auto r = resolve_cgroup(path);
    if (!r) return r.error().what();
    return std::nullopt;
}

long long us_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Daemon::Daemon(DaemonOptions opts) : opts_(std::move(opts)), signals_(io_, SIGHUP, SIGTERM, SIGINT) {}

Daemon::~Daemon() {
    metrics_.reset();  // it reads health_ and the maps: it goes first
}

Status Daemon::start(Config& cfg) {
    pin_dir_ = opts_.pin_dir ? *opts_.pin_dir : cfg.pin_dir;
    etcd_cfg_ = cfg.etcd;
    limits_ = cfg.maps;
    vip_pool_ = cfg.vip_pool;
    auto obj = DatapathObject::load({pin_dir_, limits_.max_services, limits_.max_backends});
    if (!obj) return obj.error();
    object_ = std::move(obj.value());
    auto progs = object_->programs();
    if (!progs) return progs.error();
    programs_ = std::move(progs.value());
    // Pinned links (a previous daemon's) switch to this build's programs in
    // one atomic step each: redirection never has a gap.
    links_ = std::make_unique<LinkStore>(pin_dir_);
    if (auto st = links_->upgrade_all(programs_); !st) return st;
    if (auto st = pin_programs(programs_, pin_dir_); !st) return st;
    auto maps = object_->maps();
    if (!maps) return maps.error();
    store_ = std::make_unique<KernelMapStore>(std::move(maps.value()));
    attacher_ = std::make_unique<KernelCgroupAttacher>(*links_, programs_);
    reconciler_ = std::make_unique<Reconciler>(*store_, *attacher_, limits_);
    reconciler_->adopt();
    auto trace_prog = object_->trace_program();
    if (!trace_prog) return trace_prog.error();
    trace_writer_ = std::make_unique<TraceWriter>(std::move(trace_prog.value()));
    open_outlier_inputs();
    health_ = std::make_unique<health::Monitor>(io_, health_sink_, failure_counts_.get());
    start_outlier_events();
    if (auto t = SocketTerminator::load(pin_dir_); t) terminator_ = std::move(t.value());
    else spdlog::warn("socket termination disabled: {}", t.error().what());
    spdlog::info("datapath loaded, pin dir {}; adopted {} services from pinned maps", pin_dir_,
                 reconciler_->services().size());

    auto t0 = std::chrono::steady_clock::now();
    if (auto st = registry_.set_file_services(std::move(cfg.services)); !st) return st;  // not held twice
    // The API's own state: registrations and services outlive the daemon,
    // each TTL starting afresh (a restart never expires a live task).
    auto journal = Journal::open(opts_.state_dir ? *opts_.state_dir : cfg.state_dir);
    if (!journal) return journal.error();
    journal_ = std::move(journal.value());
    // With etcd, a registration's service may be defined there: kept until
    // the definition arrives (the first list comes after this).
    auto replay = journal_->replay(registry_, Clock::now(), cfg.etcd.has_value());
    if (!replay) return replay.error();
    if (replay->skipped)
        spdlog::warn("state {}: {} entries could not be restored; first: {}", journal_->path(), replay->skipped,
                     replay->first_problem);
    spdlog::info("state {}: restored {} API services and {} registrations (fresh TTLs)", journal_->path(),
                 replay->services, registry_.registration_count());
    if (cfg.etcd) {
        if (auto st = start_cluster(*cfg.etcd, opts_.state_dir ? *opts_.state_dir : cfg.state_dir); !st) return st;
    }
    // Health is the daemon's and starts afresh, but a backend the last one
    // quarantined stays so until it passes: no dead backend gets connects
    // for the few probes it takes to judge it again.
    for (const auto& [n, ep] : reconciler_->adopted_quarantined()) {
        adopted_unhealthy_.insert({n, {ep.first, ep.second}});
        (void)registry_.set_backend_health(n, ep.first, ep.second, false);
    }
    // Everything the registry holds, and every service the kernel holds
    // that it no longer does, in one batch.
    // A sorted vector, not a set: no node per name left as a hole in the heap.
    std::vector<Reconciler::ServiceName> all = registry_.take_dirty();
    all.reserve(all.size() + reconciler_->services().size());
    for (const auto& [n, rec] : reconciler_->services()) all.push_back(n);
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    auto report = apply_names(all);
    if (!report) return report.error();
    // Adopted quarantines of services that no longer check anything: lifted.
    size_t kept = 0;
    for (const auto& [n, ep] : adopted_unhealthy_) {
        if (health_->tracker().find(n)) ++kept;
        else (void)registry_.set_backend_health(n, ep.first, ep.second, true);
    }
    if (!adopted_unhealthy_.empty())
        spdlog::info("{} backends quarantined by the last daemon stay so until they pass their checks", kept);
    adopted_unhealthy_.clear();
    if (auto st = apply_dirty("health: adopted"); !st) return st;
    if (auto st = reconciler_->apply_attachments(cfg.attach); !st) return st;
    attach_ = cfg.attach;
    spdlog::info("config {} applied in {} us: {} services ({} added, {} changed, {} removed), {} map writes",
                 opts_.config, us_since(t0), registry_.names().size(), report->added, report->changed,
                 report->removed, report->map_writes);
    applied_once_ = true;
    counters_.reloads_ok++;
    counters_.file_up = true;
    dns_cfg_ = cfg.dns;  // the responder starts in run(); its service now
    sync_dns();
    return ok_status();
}

// etcd: the source and the publisher start now, and the first apply waits
// (bounded) for the first list, so that a restarted daemon keeps in the
// kernel what the cluster still holds instead of dropping it for a moment.
Status Daemon::start_cluster(const EtcdConfig& cfg, const std::string& state_dir) {
    auto c = load_cluster({io_, cfg, state_dir, registry_, counters_.etcd, [this](const char* why) {
                               // Before the first apply, changes wait for it (it takes every dirty name).
                               if (applied_once_) (void)apply_dirty(why);
                           }});
    if (!c) return c.error();
    cluster_ = std::move(c.value());
    cluster_->start();
    const auto deadline = std::chrono::steady_clock::now() + kFirstListWait;
    while (!cluster_->up() && std::chrono::steady_clock::now() < deadline) io_.run_one_for(std::chrono::milliseconds(50));
    if (io_.stopped()) io_.restart();
    if (!cluster_->up())
        spdlog::warn("etcd: not listed within {} s; starting with this host's own state (the rest comes when etcd "
                     "answers)",
                     std::chrono::duration_cast<std::chrono::seconds>(kFirstListWait).count());
    return ok_status();
}

void Daemon::registration_changed(const Registry::Name& n, const std::string& id) {
    if (cluster_) cluster_->registration_changed(n, id);
}

std::vector<std::string> Daemon::attached_paths() const {
    std::vector<std::string> out;
    for (const auto& [id, v] : reconciler_->cgroups())
        if (auto p = cgroup_path_of(id); !p.empty()) out.push_back(p);
    return out;
}

// The registry's current wish for each named service, to the kernel; then
// the sockets of backends that left are ended and drains are tracked.
Result<ApplyReport> Daemon::apply_names(const std::vector<Reconciler::ServiceName>& names) {
    std::vector<std::optional<Service>> desired;
    std::vector<char> fail_open(names.size(), 0);
    desired.reserve(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
        bool open = false;
        desired.push_back(registry_.desired(names[i], &open));
        fail_open[i] = open;
    }
    std::vector<Reconciler::ServiceChange> changes;
    changes.reserve(names.size());
    for (size_t i = 0; i < names.size(); ++i) changes.push_back({names[i], desired[i] ? &*desired[i] : nullptr});
    auto report = reconciler_->apply_services(changes, vip_pool_);
    if (!report) return report;
    std::vector<Doomed> doomed;
    for (const auto& r : report->removed_backends) doomed.push_back({r.backend_id, r.service_id});
    terminate(doomed, "removed");
    track_drains(names, *report);
    sync_health(names, desired, fail_open);
    return report;
}

void Daemon::sync_health(const std::vector<Reconciler::ServiceName>& names,
                         const std::vector<std::optional<Service>>& desired, const std::vector<char>& fail_open) {
    for (size_t i = 0; i < names.size(); ++i) {
        const Service* d = desired[i] ? &*desired[i] : nullptr;
        const auto* rec = d ? reconciler_->find(names[i]) : nullptr;
        if (!d || !rec || (!d->health_check && !d->outlier_detection)) {
            health_->remove(names[i]);
            continue;
        }
        health::TrackedService t;
        t.name = names[i];
        t.id = rec->id();
        t.check = d->health_check.get();
        t.outlier = d->outlier_detection.get();
        t.backends.reserve(rec->backends.size());
        for (const auto& b : reconciler_->backends_of(*rec)) {
            health::Endpoint ep{b.spec.address, b.spec.port};
            t.backends.push_back({ep, b.id, adopted_unhealthy_.count({names[i], ep}) > 0});
        }
        health_->update(t);
        health_->set_fail_open(names[i], fail_open[i], rec->backends.size());
    }
}

// Outlier detection's inputs from the datapath: the live per-backend
// figures (whose failure count an ejection resets) and the ring buffer of
// connect failures. A datapath built without the lifecycle program has
// neither: outlier_detection then ejects nothing, and the log says so.
namespace {
constexpr const char* kBackendLiveMap = "hl_belive_v1";
constexpr const char* kEventsMap = "hl_events_v1";
}  // namespace

void Daemon::open_outlier_inputs() {
    auto fd = MapBase::open_pinned(pin_dir_ + "/" + kBackendLiveMap);
    if (!fd) return;
    backend_live_ = std::make_unique<SharedArray<hl_backend_live>>(std::move(fd.value()), kBackendLiveMap);
    failure_counts_ = std::make_unique<FailureCountsInMap>(*backend_live_);
}

void Daemon::start_outlier_events() {
    auto fd = MapBase::open_pinned(pin_dir_ + "/" + kEventsMap);
    if (!fd) {
        spdlog::info("outlier detection inactive: the datapath reports no connect failures ({}/{} missing)", pin_dir_,
                     kEventsMap);
        return;
    }
    auto reader = health::EventReader::start(io_, fd->get(),
                                             [this](const hl_connect_failure& ev) { health_->connect_failure(ev); });
    if (!reader) {
        spdlog::error("outlier detection inactive: {}", reader.error().what());
        return;
    }
    events_ = std::move(reader.value());
}

// A backend's health flag changed: the registry quarantines it (or not),
// and the services so changed are applied in one batch once this turn of
// the event loop is over (a probe round that fails many backends at once
// applies each service once).
void Daemon::on_health(const health::Change& c) {
    if (!registry_.set_backend_health(c.service, c.endpoint.first, c.endpoint.second, c.healthy)) return;
    if (health_apply_pending_) return;
    health_apply_pending_ = true;
    boost::asio::post(io_, [this] {
        health_apply_pending_ = false;
        (void)apply_dirty("health");
    });
}

// A health verdict, to whoever traces its service (the program writes
// nothing when nobody does). Posted after the apply that on_health() posted
// for the same change, so the event is in the ring after the kernel's maps
// changed: a tracer sees no redirect to a backend between its `ejected`
// and its `restored` (unless the service fails open). A failure to run it costs the trace one event, never the
// verdict.
void Daemon::trace_health(const health::BackendEvent& e) {
    if (!trace_writer_) return;
    hl_trace_event ev{};
    ev.type = e.ejected ? HL_TRACE_EJECTED : HL_TRACE_RESTORED;
    ev.reason = e.why;
    ev.service_id = e.service_id;
    ev.backend_id = e.backend_id;
    std::memcpy(ev.backend, e.endpoint.first.bytes().data(), sizeof ev.backend);
    ev.backend_port = htons(e.endpoint.second);
    ev.ejection_ms = static_cast<uint32_t>(e.ejection.count());
    boost::asio::post(io_, [this, ev] {
        if (auto r = trace_writer_->write(ev); !r) spdlog::debug("trace: {}", r.error().what());
    });
}

Status Daemon::apply_dirty(const char* why) {
    auto names = registry_.take_dirty();
    if (names.empty()) return ok_status();
    auto t0 = std::chrono::steady_clock::now();
    auto report = apply_names(names);
    if (!report) {
        spdlog::error("{}: applying {} services failed: {}", why, names.size(), report.error().what());
        return report.error();
    }
    spdlog::debug("{}: {} services applied in {} us ({} added, {} changed, {} removed), {} map writes", why,
                  names.size(), us_since(t0), report->added, report->changed, report->removed, report->map_writes);
    if (report->added || report->removed) sync_dns();
    return ok_status();
}

// Drains of the services just applied: a backend that turned draining
// starts its clock, one that left or turned back stops it.
void Daemon::track_drains(const std::vector<Reconciler::ServiceName>& touched, const ApplyReport& report) {
    for (const auto& r : report.removed_backends) drains_.erase({r.service_id, r.backend_id});
    auto now = std::chrono::steady_clock::now();
    for (const auto& n : touched) {
        const auto* rec = reconciler_->find(n);
        if (!rec) continue;
        if (rec->value.drain_timeout_s == 0) {  // nothing drains on a clock: no backend to read
            drains_.erase(drains_.lower_bound({rec->id(), 0}), drains_.lower_bound({rec->id() + 1, 0}));
            continue;
        }
        for (const auto& be : reconciler_->backends_of(*rec)) {
            BackendKey k{rec->id(), be.id};
            if (be.spec.state == BackendState::Draining)
                drains_.try_emplace(k, Drain{now}).first->second.timeout_s = rec->value.drain_timeout_s;
            else
                drains_.erase(k);
        }
    }
}

void Daemon::terminate(const std::vector<Doomed>& all, const char* why) {
    if (all.empty() || !terminator_) return;
    // A backend no connect was ever redirected to has no socket to end:
    // skip the socket walk (milliseconds per network namespace) for it, as
    // for most registrations that come and go.
    std::vector<Doomed> doomed;
    for (const auto& d : all) {
        uint64_t n = 0;
        for (const auto& v : store_->maps().backend_stats.lookup(d.backend_id)) n += v.connections;
        if (n) doomed.push_back(d);
    }
    if (doomed.empty()) return;
    auto n = terminator_->terminate(doomed, attached_paths());
    if (!n) spdlog::warn("socket termination ({} backends): {}", why, n.error().what());
    else spdlog::info("{} backends {}: {} redirected sockets terminated", doomed.size(), why, *n);
}

void Daemon::check_drains() {
    auto now = std::chrono::steady_clock::now();
    std::vector<Doomed> doomed;
    for (auto& [k, d] : drains_)
        if (!d.terminated && now - d.since >= std::chrono::seconds(d.timeout_s)) {
            doomed.push_back({k.second, k.first});
            d.terminated = true;
        }
    terminate(doomed, "drained past drain_timeout");
    drain_timer_.expires_after(std::chrono::seconds(1));
    drain_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) check_drains();
    });
}

// Registrations whose TTL ran out: woken at the next expiry, at most a
// second apart.
void Daemon::schedule_expiry() {
    auto next = Clock::now() + std::chrono::seconds(1);
    if (auto e = registry_.next_expiry(); e && *e < next) next = *e;
    expiry_timer_.expires_at(next);
    expiry_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        expire();
        schedule_expiry();
    });
}

void Daemon::expire() {
    auto gone = registry_.expire(Clock::now());
    if (gone.empty()) return;
    for (const auto& [n, id] : gone) {
        spdlog::info("endpoint '{}' of service {} expired (no heartbeat within its ttl)", id, to_string(n));
        registration_changed(n, id);
        if (journal_)
            if (auto st = journal_->delete_endpoint(n, id); !st) spdlog::warn("journal: {}", st.error().what());
    }
    (void)apply_dirty("ttl expiry");
    if (journal_)
        if (auto st = journal_->maybe_compact(registry_); !st) spdlog::warn("journal: {}", st.error().what());
}

// The DNS responder's service (dns.vip:53, udp and tcp) in every namespace
// that has a service of its own or an attached cgroup.
void Daemon::sync_dns() {
    std::set<std::string> nss;
    if (dns_cfg_) {
        nss = registry_.namespaces();
        std::map<uint32_t, std::string> names;
        for (const auto& [n, id] : reconciler_->namespaces()) names[id] = n;
        for (const auto& [cg, v] : reconciler_->cgroups())
            if (auto it = names.find(v.ns_id); it != names.end()) nss.insert(it->second);
    }
    std::vector<Backend> listen;
    if (dns_cfg_)
        for (const auto& a : dns_cfg_->listen) listen.push_back(Backend{a.address, a.port, 1, BackendState::Active});
    registry_.set_dns(dns_cfg_ ? std::optional(dns_cfg_->vip) : std::nullopt, std::move(listen), nss);
    (void)apply_dirty("dns service");
}

void Daemon::start_dns(const std::optional<DnsConfig>& cfg) {
    if (cfg == dns_cfg_ && (dns_ || !cfg)) return;
    // The old responder holds the addresses: it goes first.
    dns_.reset();
    dns_cfg_ = cfg;
    if (!cfg) return;
    if (!dns_directory_) dns_directory_ = std::make_unique<DnsDirectory>(*reconciler_);
    auto server = dns::DnsServer::start(io_, *cfg, *dns_directory_, {}, &counters_.dns);
    if (!server) {
        // Names are missing, the datapath is not: carry on, loudly.
        spdlog::error("dns responder disabled: {}", server.error().what());
        return;
    }
    dns_ = std::move(server.value());
    std::string where;
    for (const auto& a : cfg->listen) where += (where.empty() ? "" : ", ") + a.to_string();
    spdlog::info("dns responder for zone {} on {} (tasks: nameserver {})", cfg->zone, where, cfg->vip.to_string());
}

void Daemon::after_cgroup_change() { sync_dns(); }

void Daemon::reload(const char* why) {
    const GiveBackFreeHeapOnExit give_back;  // after cfg below is freed too
    spdlog::info("reloading config {} ({})", opts_.config, why);
    auto cfg = load_config_file(opts_.config, check_cgroup);
    if (!cfg) {
        counters_.reloads_rejected++;
        counters_.file_up = false;
        spdlog::error("config rejected, the last good config stays in force: {}", cfg.error().what());
        notify_.status("config rejected, the last good config stays in force: " + cfg.error().what());
        return;
    }
    if (cfg->etcd != etcd_cfg_) spdlog::warn("etcd: changes only at a restart; keeping the running settings");
    if (cfg->maps != limits_)
        spdlog::warn("maps: sizes change only at a restart with --cleanup; keeping the loaded sizes");
    if (!opts_.pin_dir && cfg->pin_dir != pin_dir_)
        spdlog::warn("pin_dir: changes only at a restart; keeping {}", pin_dir_);
    auto t0 = std::chrono::steady_clock::now();
    // Only the services whose definition changed are dirty: a one-service
    // edit of a 65,536-service file writes one service.
    if (auto st = registry_.set_file_services(std::move(cfg->services)); !st) {
        counters_.reloads_rejected++;
        counters_.file_up = false;
        spdlog::error("config rejected, the last good config stays in force: {}", st.error().what());
        notify_.status("config rejected, the last good config stays in force: " + st.error().what());
        return;
    }
    const IpPrefix old_pool = vip_pool_;
    vip_pool_ = cfg->vip_pool;
    if (auto st = apply_dirty("reload"); !st) {
        vip_pool_ = old_pool;
        counters_.reloads_rejected++;
        counters_.file_up = false;
        spdlog::error("config rejected while applying: {}", st.error().what());
        notify_.status("config rejected while applying: " + st.error().what());
        return;
    }
    if (auto st = reconciler_->apply_attachments(cfg->attach); !st) {
        counters_.reloads_rejected++;
        counters_.file_up = false;
        spdlog::error("config attach: rejected: {}", st.error().what());
        notify_.status("config attach: rejected: " + st.error().what());
        return;
    }
    attach_ = cfg->attach;
    start_dns(cfg->dns);
    sync_dns();
    counters_.reloads_ok++;
    counters_.file_up = true;
    spdlog::info("config applied in {} us", us_since(t0));
    if (cfg->metrics_listen != metrics_listen_) spdlog::warn("metrics.listen: changes only at a restart");
    if (!opts_.socket && cfg->control_socket != control_socket_) spdlog::warn("control.socket: changes only at a restart");
    notify_.status(fmt::format("{} services, {} cgroups attached; config reloaded ({})", reconciler_->services().size(),
                               reconciler_->cgroups().size(), why));
}

void Daemon::start_metrics(const std::string& listen) {
    metrics_listen_ = listen;
    auto maps = object_->maps();
    if (!maps) {
        spdlog::error("metrics disabled: {}", maps.error().what());
        return;
    }
    metrics_source_ = counters_from_maps(std::move(maps.value()));
    auto server = MetricsServer::start(io_, listen, ScrapeInputs{metrics_source_.get(), &health_->tracker(), &counters_});
    if (!server) {
        spdlog::error("metrics disabled: {}", server.error().what());
        return;
    }
    metrics_ = std::move(server.value());
    spdlog::info("metrics on {}", metrics_->url());
}

void Daemon::start_control(const std::string& socket) {
    control_socket_ = socket;
    api_ = std::make_unique<ApiHandler>(*this);
    auto server = control::ControlServer::start(io_, socket, *api_);
    if (!server) {
        // The datapath and the file keep working; only the API is missing.
        spdlog::error("control API disabled: {}", server.error().what());
        return;
    }
    control_ = std::move(server.value());
    spdlog::info("control API on {}", control_->path());
}

int Daemon::run() {
    {
        // Scoped: once applied, the config lives on in the registry and the
        // reconciler's state; keeping this copy too would hold it twice.
        const GiveBackFreeHeapOnExit give_back;
        auto cfg = load_config_file(opts_.config, check_cgroup);
        if (!cfg) {
            spdlog::error("{}", cfg.error().what());
            return 1;
        }
        if (auto st = start(*cfg); !st) {
            spdlog::error("{}", st.error().what());
            return 1;
        }
        start_metrics(cfg->metrics_listen);
        start_control(opts_.socket ? *opts_.socket : cfg->control_socket);
        dns_cfg_.reset();
        start_dns(cfg->dns);
    }
    ready_ = true;
    watcher_ = std::make_unique<ConfigWatcher>(io_, opts_.config, [this] { reload("file changed"); });
    watcher_->start();
    std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
            reload("SIGHUP");
            signals_.async_wait(on_signal);
            return;
        }
        spdlog::info("{}: exiting; the datapath stays pinned under {} and keeps working", strsignal(sig), pin_dir_);
        notify_.stopping();
        io_.stop();
    };
    signals_.async_wait(on_signal);
    check_drains();
    schedule_expiry();
    heap_trim_.start();
    notify_.ready(fmt::format("{} services, {} cgroups attached; config {} applied", reconciler_->services().size(),
                              reconciler_->cgroups().size(), opts_.config));
    spdlog::info("hoplessd running (pid {})", getpid());
    io_.run();
    cluster_.reset();  // its callbacks reach the API handler and the registry: it goes first
    control_.reset();
    dns_.reset();
    metrics_.reset();
    return 0;
}

}  // namespace hl
