#include "daemon/daemon.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>

#include "bpf/cgroup.h"
#include "discovery/config_file.h"

namespace hl {

namespace {
std::optional<std::string> check_cgroup(const std::string& path) {
    auto r = resolve_cgroup(path);
    if (!r) return r.error().what();
    return std::nullopt;
}
}  // namespace

Daemon::Daemon(DaemonOptions opts) : opts_(std::move(opts)), signals_(io_, SIGHUP, SIGTERM, SIGINT) {}

Daemon::~Daemon() = default;

Status Daemon::start(const Config& cfg) {
    pin_dir_ = opts_.pin_dir ? *opts_.pin_dir : cfg.pin_dir;
    limits_ = cfg.maps;
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
    if (auto t = SocketTerminator::load(pin_dir_); t) terminator_ = std::move(t.value());
    else spdlog::warn("socket termination disabled: {}", t.error().what());
    spdlog::info("datapath loaded, pin dir {}; adopted {} services from pinned maps", pin_dir_,
                 reconciler_->services().size());
    auto t0 = std::chrono::steady_clock::now();
    auto report = reconciler_->apply(cfg);
    if (!report) return report.error();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("config {} applied in {} us: {} services ({} added, {} changed, {} removed), {} map writes",
                 opts_.config, us, cfg.services.size(), report->added, report->changed, report->removed,
                 report->map_writes);
    counters_.reloads_ok++;
    after_apply(cfg, *report);
    return ok_status();
}

void Daemon::after_apply(const Config& cfg, const ApplyReport& report) {
    attached_paths_.clear();
    for (const auto& a : cfg.attach)
        if (auto p = resolve_cgroup(a.cgroup)) attached_paths_.push_back(*p);
    std::vector<Doomed> doomed;
    for (const auto& r : report.removed_backends) doomed.push_back({r.backend_id, r.service_id});
    terminate(doomed, "removed");
    // Track how long each backend has been draining.
    std::set<BackendKey> draining;
    auto now = std::chrono::steady_clock::now();
    for (const auto& [name, svc] : reconciler_->services())
        for (const auto& be : svc.backends)
            if (be.spec.state == BackendState::Draining && svc.value.drain_timeout_s > 0) {
                draining.insert({svc.id, be.id});
                drains_.try_emplace({svc.id, be.id}, Drain{now}).first->second.timeout_s = svc.value.drain_timeout_s;
            }
    std::erase_if(drains_, [&](const auto& kv) { return !draining.count(kv.first); });
}

void Daemon::terminate(const std::vector<Doomed>& doomed, const char* why) {
    if (doomed.empty() || !terminator_) return;
    auto n = terminator_->terminate(doomed, attached_paths_);
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

void Daemon::reload(const char* why) {
    const GiveBackFreeHeapOnExit give_back;  // after cfg below is freed too
    spdlog::info("reloading config {} ({})", opts_.config, why);
    auto cfg = load_config_file(opts_.config, check_cgroup);
    if (!cfg) {
        counters_.reloads_rejected++;
        spdlog::error("config rejected, the last good config stays in force: {}", cfg.error().what());
        notify_.status("config rejected, the last good config stays in force: " + cfg.error().what());
        return;
    }
    if (cfg->maps != limits_)
        spdlog::warn("maps: sizes change only at a restart with --cleanup; keeping the loaded sizes");
    if (!opts_.pin_dir && cfg->pin_dir != pin_dir_)
        spdlog::warn("pin_dir: changes only at a restart; keeping {}", pin_dir_);
    auto t0 = std::chrono::steady_clock::now();
    auto report = reconciler_->apply(*cfg);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    if (!report) {
        counters_.reloads_rejected++;
        spdlog::error("config rejected, the last good config stays in force: {}", report.error().what());
        notify_.status("config rejected, the last good config stays in force: " + report.error().what());
        return;
    }
    counters_.reloads_ok++;
    after_apply(*cfg, *report);
    spdlog::info("config applied in {} us: {} added, {} changed, {} removed, {} unchanged, {} map writes", us,
                 report->added, report->changed, report->removed, report->unchanged, report->map_writes);
    if (cfg->metrics_listen != metrics_listen_) spdlog::warn("metrics.listen: changes only at a restart");
    notify_.status(fmt::format("{} services, {} cgroups attached; config reloaded ({})",
                               reconciler_->services().size(), attached_paths_.size(), why));
}

void Daemon::start_metrics(const std::string& listen) {
    metrics_listen_ = listen;
    auto maps = object_->maps();
    if (!maps) {
        spdlog::error("metrics disabled: {}", maps.error().what());
        return;
    }
    collector_ = std::make_shared<DatapathCollector>(std::move(maps.value()), counters_);
    auto server = MetricsServer::start(listen, collector_);
    if (!server) {
        spdlog::error("metrics disabled: {}", server.error().what());
        return;
    }
    metrics_ = std::move(server.value());
    spdlog::info("metrics on {}", metrics_->url());
}

int Daemon::run() {
    {
        // Scoped: once applied, the config lives on in the reconciler's
        // state; keeping this copy too would hold it twice for good.
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
    }
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
    heap_trim_.start();
    notify_.ready(fmt::format("{} services, {} cgroups attached; config {} applied", reconciler_->services().size(),
                              attached_paths_.size(), opts_.config));
    spdlog::info("hoplessd running (pid {})", getpid());
    io_.run();
    metrics_.reset();
    return 0;
}

}  // namespace hl
