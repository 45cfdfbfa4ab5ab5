// hoplessd: one io_context; signals, the config watcher, the control API,
// registration expiry, the reconciler, health and the metrics endpoint all
// run on it (a scrape is written in bounded steps between the others).
//
// Data flows one way: sources (the file, the API) -> registry -> the
// services it marks dirty -> reconciler -> maps.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>

#include "bpf/links.h"
#include "bpf/map.h"
#include "bpf/object.h"
#include "bpf/socket_terminator.h"
#include "bpf/trace_writer.h"
#include "cluster/cluster_api.h"
#include "daemon/config_watcher.h"
#include "daemon/heap.h"
#include "daemon/notify.h"
#include "daemon/options.h"
#include "datapath/cgroup_attacher.h"
#include "datapath/kernel_map_store.h"
#include "control/server.h"
#include "datapath/reconciler.h"
#include "daemon/dns_directory.h"
#include "dns/dns_server.h"
#include "health/event_reader.h"
#include "health/monitor.h"
#include "metrics/daemon_counters.h"
#include "metrics/metrics_server.h"
#include "metrics/source.h"
#include "registry/journal.h"
#include "registry/registry.h"

namespace hl {

class ApiHandler;

class Daemon {
public:
    explicit Daemon(DaemonOptions opts);
    ~Daemon();
    int run();

    // For the control API (daemon/api_handler.cpp), on the io_context.
    Registry& registry() { return registry_; }
    Reconciler& reconciler() { return *reconciler_; }
    Journal* journal() { return journal_.get(); }
    // Hands the services the registry marked dirty to the reconciler.
    Status apply_dirty(const char* why);
    // After a cgroup attach or detach: the DNS service follows namespaces.
    void after_cgroup_change();
    // etcd (nullptr when etcd: is not configured).
    cluster::ClusterApi* cluster() { return cluster_.get(); }
    // A registration of this host changed: published to etcd when configured.
    void registration_changed(const Registry::Name& n, const std::string& id);
    const health::Monitor& health() const { return *health_; }
    const SharedArray<hl_backend_live>* backend_live() const { return backend_live_.get(); }
    bool ready() const { return ready_; }

private:
    Status start(Config& first);  // its services move into the registry
    Status start_cluster(const EtcdConfig& cfg, const std::string& state_dir);
    void reload(const char* why);
    void start_metrics(const std::string& listen);
    void start_control(const std::string& socket);
    void start_dns(const std::optional<DnsConfig>& cfg);
    Result<ApplyReport> apply_names(const std::vector<Reconciler::ServiceName>& names);
    void terminate(const std::vector<Doomed>& doomed, const char* why);
    void track_drains(const std::vector<Reconciler::ServiceName>& touched, const ApplyReport& report);
    void check_drains();
    void schedule_expiry();
    void expire();
    void sync_dns();
    std::vector<std::string> attached_paths() const;
    // Health: the monitor learns each applied service; its flags go to the
    // registry, and the services they change are applied together, soon.
    void sync_health(const std::vector<Reconciler::ServiceName>& names, const std::vector<std::optional<Service>>& desired,
                     const std::vector<char>& fail_open);
    void on_health(const health::Change& c);
    void trace_health(const health::BackendEvent& e);
    void open_outlier_inputs();
    void start_outlier_events();
    struct HealthToRegistry : health::Sink {
        explicit HealthToRegistry(Daemon& d) : d(d) {}
        void backend_health(const health::Change& c) override { d.on_health(c); }
        void backend_event(const health::BackendEvent& e) override { d.trace_health(e); }
        Daemon& d;
    };
    // The kernel's failure streak of a backend set to 0 alone: `active`,
    // which the datapath changes meanwhile, is left as it is.
    struct FailureCountsInMap : health::FailureCounts {
        explicit FailureCountsInMap(SharedArray<hl_backend_live>& l) : live(l) {}
        Status reset(uint32_t backend_id) override {
            return live.modify_in_place(backend_id, [](hl_backend_live& v) {
                __atomic_store_n(&v.consecutive_failures, 0u, __ATOMIC_RELAXED);
            });
        }
        SharedArray<hl_backend_live>& live;
    };

    DaemonOptions opts_;
    std::string pin_dir_;
    MapLimits limits_;
    IpPrefix vip_pool_;
    std::vector<Attachment> attach_;  // the file's attach: as last applied
    boost::asio::io_context io_;
    boost::asio::signal_set signals_;
    std::unique_ptr<DatapathObject> object_;
    ProgramSet programs_;
    std::unique_ptr<LinkStore> links_;
    std::unique_ptr<KernelMapStore> store_;
    std::unique_ptr<KernelCgroupAttacher> attacher_;
    std::unique_ptr<Reconciler> reconciler_;
    Registry registry_;
    std::unique_ptr<Journal> journal_;
    std::unique_ptr<ConfigWatcher> watcher_;
    DaemonCounters counters_;
    std::unique_ptr<CounterSource> metrics_source_;  // the maps, as a scrape reads them
    std::unique_ptr<MetricsServer> metrics_;
    std::string metrics_listen_;
    std::unique_ptr<ApiHandler> api_;
    std::unique_ptr<control::ControlServer> control_;
    std::string control_socket_;
    std::unique_ptr<SocketTerminator> terminator_;
    std::unique_ptr<TraceWriter> trace_writer_;  // ejections and restores to `hopless trace`
    std::optional<DnsConfig> dns_cfg_;
    std::unique_ptr<DnsDirectory> dns_directory_;
    std::unique_ptr<dns::DnsServer> dns_;
    bool ready_ = false;
    bool applied_once_ = false;  // the first apply took every source's state
    std::optional<EtcdConfig> etcd_cfg_;
    std::unique_ptr<cluster::ClusterApi> cluster_;
    // How long a start waits for etcd's first list before it applies without.
    static constexpr std::chrono::milliseconds kFirstListWait{3000};
    HealthToRegistry health_sink_{*this};
    std::unique_ptr<SharedArray<hl_backend_live>> backend_live_;  // hl_belive_v1, when the datapath has it
    std::unique_ptr<FailureCountsInMap> failure_counts_;
    std::unique_ptr<health::Monitor> health_;
    std::unique_ptr<health::EventReader> events_;  // after health_: it calls it, so it goes first
    bool health_apply_pending_ = false;
    // Backends the pinned maps held quarantined at start (the last daemon's
    // verdict), until the first apply has given them to the monitor.
    std::set<std::pair<Reconciler::ServiceName, health::Endpoint>> adopted_unhealthy_;
    using BackendKey = std::pair<uint32_t, uint32_t>;  // service id, backend id
    // Backends draining under a drain_timeout, kept per applied change, so
    // the 1 s check reads only these, not every backend of every service.
    struct Drain {
        std::chrono::steady_clock::time_point since;
        uint32_t timeout_s = 0;   // the service's drain_timeout, as last applied
        bool terminated = false;  // its sockets were ended: once per drain
    };
    std::map<BackendKey, Drain> drains_;
    boost::asio::steady_timer drain_timer_{io_};
    boost::asio::steady_timer expiry_timer_{io_};
    PeriodicHeapTrim heap_trim_{io_, std::chrono::seconds(2)};
    SystemdNotifier notify_{io_};
};

}  // namespace hl
