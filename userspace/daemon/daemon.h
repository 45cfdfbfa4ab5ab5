// hoplessd: one io_context; signals, the config watcher and the reconciler
// run on it. The metrics exposer answers scrapes on its own thread, reading
// the maps (never the daemon's state).
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>

#include "bpf/links.h"
#include "bpf/object.h"
#include "bpf/socket_terminator.h"
#include "daemon/config_watcher.h"
#include "daemon/heap.h"
#include "daemon/notify.h"
#include "daemon/options.h"
#include "datapath/cgroup_attacher.h"
#include "datapath/kernel_map_store.h"
#include "datapath/reconciler.h"
#include "metrics/collector.h"
#include "metrics/metrics_server.h"

namespace hl {

class Daemon {
public:
    explicit Daemon(DaemonOptions opts);
    ~Daemon();
    int run();

private:
    Status start(const Config& first);
    void reload(const char* why);
    void start_metrics(const std::string& listen);
    // Socket termination: at once for removed backends, after drain_timeout
    // for draining ones (checked every second).
    void after_apply(const Config& cfg, const ApplyReport& report);
    void terminate(const std::vector<Doomed>& doomed, const char* why);
    void check_drains();

    DaemonOptions opts_;
    std::string pin_dir_;
    MapLimits limits_;
    boost::asio::io_context io_;
    boost::asio::signal_set signals_;
    std::unique_ptr<DatapathObject> object_;
    ProgramSet programs_;
    std::unique_ptr<LinkStore> links_;
    std::unique_ptr<KernelMapStore> store_;
    std::unique_ptr<KernelCgroupAttacher> attacher_;
    std::unique_ptr<Reconciler> reconciler_;
    std::unique_ptr<ConfigWatcher> watcher_;
    DaemonCounters counters_;
    std::shared_ptr<DatapathCollector> collector_;
    std::unique_ptr<MetricsServer> metrics_;
    std::string metrics_listen_;
    std::unique_ptr<SocketTerminator> terminator_;
    std::vector<std::string> attached_paths_;
    using BackendKey = std::pair<uint32_t, uint32_t>;  // service id, backend id
    // Backends draining under a drain_timeout: filled at each apply, so the
    // 1 s check reads only these, not every backend of every service.
    struct Drain {
        std::chrono::steady_clock::time_point since;
        uint32_t timeout_s = 0;   // the service's drain_timeout, as last applied
        bool terminated = false;  // its sockets were ended: once per drain
    };
    std::map<BackendKey, Drain> drains_;
    boost::asio::steady_timer drain_timer_{io_};
    PeriodicHeapTrim heap_trim_{io_, std::chrono::seconds(2)};
    SystemdNotifier notify_{io_};
};

}  // namespace hl
