#include "metrics/collector.h"

#include <algorithm>
#include <chrono>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include "datapath/inventory.h"
#include "metrics/histogram.h"


namespace hl {

namespace {
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const char* name, const char* help, MetricType type) {
    MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    return f;
}

void add(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
    ClientMetric m;
    m.label = std::move(labels);
    if (f.type == MetricType::Counter) m.counter.value = value;
    else m.gauge.value = value;
    f.metric.push_back(std::move(m));
}

// The kernel's fixed buckets (abi.h HL_HIST_BOUND_US), cumulative, in seconds.
void add_histogram(MetricFamily& f, std::vector<ClientMetric::Label> labels, const hl_hist& h) {
    ClientMetric m;
    m.label = std::move(labels);
    uint64_t cum = 0;
    m.histogram.bucket.reserve(HL_HIST_BUCKETS);
    for (int i = 0; i < HL_HIST_BUCKETS; ++i) {
        cum += h.bucket[i];
        ClientMetric::Bucket b;
        b.cumulative_count = cum;
        b.upper_bound = hist_bound_us(i) / 1e6;  // +Inf stays +Inf
        m.histogram.bucket.push_back(b);
    }
    m.histogram.sample_count = cum;
    m.histogram.sample_sum = static_cast<double>(h.sum_us) / 1e6;
    f.metric.push_back(std::move(m));
}

const char* const kReasons[HL_REASONS] = {"refused", "timeout", "reset", "other"};

// A service's lifecycle series appear once it has had a connection the
// sockops program followed (as a client library's labelled series appear
// at their first use): at 65,536 mostly idle services a scrape then does not
// carry a dozen zeros for each.
bool has_lifecycle(const ServiceView& s) {
    if (s.lc.established || s.gauge.active) return true;
    for (auto e : s.lc.errors)
        if (e) return true;
    return false;
}
bool has_inbound(const ServiceView& s) { return s.lc.inbound || s.gauge.inbound_active; }
bool has_lifecycle(const BackendView& b) {
    if (b.connections || b.live.active) return true;
    for (auto e : b.lc.errors)
        if (e) return true;
    return false;
}
}  // namespace

std::vector<MetricFamily> DatapathCollector::Collect() const {
    Inventory inv = read_inventory(maps_);
    auto conns = family("hopless_service_connections_total", "Connects (and UDP sends) redirected to a backend",
                        MetricType::Counter);
    auto nobe = family("hopless_service_no_backend_total",
                       "Connects refused with ECONNREFUSED because the service had no usable backend",
                       MetricType::Counter);
    auto udp = family("hopless_service_udp_translations_total", "Unconnected UDP datagrams sent to a backend",
                      MetricType::Counter);
    auto stale = family("hopless_service_revnat_stale_total",
                        "UDP replies whose reverse entry was stale (backend left the service)", MetricType::Counter);
    auto aff = family("hopless_service_affinity_hits_total", "Connects that kept their client's backend",
                      MetricType::Counter);
    auto bind = family("hopless_service_bind_rejects_total", "bind() to a service VIP refused with EADDRINUSE",
                       MetricType::Counter);
    auto destroyed = family("hopless_service_sockets_destroyed_total",
                            "Redirected sockets ended because their backend was removed or drained past drain_timeout",
                            MetricType::Counter);
    auto be_conns = family("hopless_backend_connections_total", "Connects redirected to this backend",
                           MetricType::Counter);
    auto be_healthy = family("hopless_backend_healthy", "1 when the backend takes new connections",
                             MetricType::Gauge);
    auto svc_active = family("hopless_service_active_connections",
                             "Redirected TCP connections established and not yet closed", MetricType::Gauge);
    auto svc_errors = family("hopless_service_connect_errors_total",
                             "Redirected TCP connects and connections that failed, by reason", MetricType::Counter);
    auto svc_bytes = family("hopless_service_bytes_total",
                            "Payload bytes of redirected TCP connections, counted at close", MetricType::Counter);
    auto svc_connect = family("hopless_service_connect_duration_seconds",
                              "connect() to established, of redirected TCP connects", MetricType::Histogram);
    auto svc_rtt = family("hopless_service_rtt_seconds",
                          "Smoothed RTT of redirected TCP connections as they close", MetricType::Histogram);
    auto be_active = family("hopless_backend_active_connections",
                            "Redirected TCP connections to this backend established and not yet closed",
                            MetricType::Gauge);
    auto be_errors = family("hopless_backend_connect_errors_total",
                            "Redirected TCP connects and connections to this backend that failed, by reason",
                            MetricType::Counter);
    auto be_bytes = family("hopless_backend_bytes_total",
                           "Payload bytes of redirected TCP connections to this backend, counted at close",
                           MetricType::Counter);
    auto in_conns = family("hopless_inbound_connections_total",
                           "Connections accepted by tasks in attached cgroups on a backend address:port of the service",
                           MetricType::Counter);
    auto in_active = family("hopless_inbound_active_connections",
                            "Inbound connections (server side) established and not yet closed", MetricType::Gauge);
    auto in_bytes = family("hopless_inbound_bytes_total", "Payload bytes of inbound connections, counted at close",
                           MetricType::Counter);
    auto svcs = family("hopless_services", "Services loaded in the datapath", MetricType::Gauge);
    auto reloads = family("hopless_config_reloads_total", "Config loads by result", MetricType::Counter);
    // A scrape of 65,536 services holds ~600,000 ClientMetrics at once: each
    // family is sized up front (growth by doubling would hold two copies at
    // each step), labels are moved in, and the families are moved out, not
    // copied from an initializer list (heaptrack: 525 MB at the peak before).
    size_t n_backends = 0;
    for (const auto& s : inv.services) n_backends += s.backends.size();
    MetricFamily* per_service[] = {&conns, &nobe, &udp, &stale, &aff, &bind, &destroyed};
    for (auto* f : per_service) f->metric.reserve(inv.services.size());
    svc_active.metric.reserve(inv.services.size());
    be_conns.metric.reserve(n_backends);
    be_healthy.metric.reserve(n_backends);
    for (const auto& s : inv.services) {
        std::vector<ClientMetric::Label> l{{"namespace", s.ns}, {"service", s.name}};
        const bool tcp = s.protocol == Protocol::Tcp;
        for (const auto& b : s.backends) {
            std::vector<ClientMetric::Label> bl{l[0], l[1], {"backend", b.spec.endpoint()}};
            add(be_conns, bl, static_cast<double>(b.connections));
            if (tcp && has_lifecycle(b)) {
                add(be_active, bl, static_cast<double>(b.live.active));
                for (int r = 0; r < HL_REASONS; ++r) {
                    auto el = bl;
                    el.push_back({"reason", kReasons[r]});
                    add(be_errors, std::move(el), static_cast<double>(b.lc.errors[r]));
                }
                auto sl = bl, rl = bl;
                sl.push_back({"direction", "sent"});
                rl.push_back({"direction", "received"});
                add(be_bytes, std::move(sl), static_cast<double>(b.lc.bytes_sent));
                add(be_bytes, std::move(rl), static_cast<double>(b.lc.bytes_received));
            }
            add(be_healthy, std::move(bl), b.spec.state == BackendState::Active ? 1.0 : 0.0);
        }
        if (tcp) add(svc_active, l, static_cast<double>(s.gauge.active));
        if (tcp && has_lifecycle(s)) {
            for (int r = 0; r < HL_REASONS; ++r)
                add(svc_errors, {l[0], l[1], {"reason", kReasons[r]}}, static_cast<double>(s.lc.errors[r]));
            add(svc_bytes, {l[0], l[1], {"direction", "sent"}}, static_cast<double>(s.lc.bytes_sent));
            add(svc_bytes, {l[0], l[1], {"direction", "received"}}, static_cast<double>(s.lc.bytes_received));
            if (hist_count(s.hist.connect)) add_histogram(svc_connect, l, s.hist.connect);
            if (hist_count(s.hist.rtt)) add_histogram(svc_rtt, l, s.hist.rtt);
        }
        if (tcp && has_inbound(s)) {
            add(in_conns, l, static_cast<double>(s.lc.inbound));
            add(in_active, l, static_cast<double>(s.gauge.inbound_active));
            add(in_bytes, {l[0], l[1], {"direction", "sent"}}, static_cast<double>(s.lc.inbound_bytes_sent));
            add(in_bytes, {l[0], l[1], {"direction", "received"}}, static_cast<double>(s.lc.inbound_bytes_received));
        }
        add(conns, l, static_cast<double>(s.stats.connections));
        add(nobe, l, static_cast<double>(s.stats.no_backend));
        add(udp, l, static_cast<double>(s.stats.udp_translations));
        add(stale, l, static_cast<double>(s.stats.revnat_stale));
        add(aff, l, static_cast<double>(s.stats.affinity_hits));
        add(bind, l, static_cast<double>(s.stats.bind_rejects));
        add(destroyed, std::move(l), static_cast<double>(s.stats.sockets_destroyed));
    }
    add(svcs, {}, static_cast<double>(inv.services.size()));
    add(reloads, {{"result", "ok"}}, static_cast<double>(counters_.reloads_ok.load()));
    add(reloads, {{"result", "rejected"}}, static_cast<double>(counters_.reloads_rejected.load()));
    auto dnsq = family("hopless_dns_queries_total", "DNS replies sent by the responder, by rcode", MetricType::Counter);
    for (size_t i = 0; i < dns::QueryCounters::kRcodes.size(); ++i)
        add(dnsq, {{"rcode", dns::QueryCounters::kRcodes[i]}}, static_cast<double>(counters_.dns.get(i)));
    // Sources: whether each is in sync, and for how long one has not been
    // (its last state stays in force meanwhile).
    auto up = family("hopless_registry_source_up",
                     "1 when the source is in sync; 0 while it is away (its last good state stays in force)",
                     MetricType::Gauge);
    auto since = family("hopless_registry_last_sync_seconds",
                        "Seconds since the source was last in sync (0 while it is)", MetricType::Gauge);
    add(up, {{"source", "file"}}, counters_.file_up ? 1.0 : 0.0);
    add(up, {{"source", "api"}}, 1.0);
    std::vector<MetricFamily> out;
    out.reserve(32);
    const auto& e = counters_.etcd;
    if (e.configured) {
        add(up, {{"source", "etcd"}}, e.up ? 1.0 : 0.0);
        int64_t away = e.away_since_ms.load();
        double secs = 0;
        if (away) {
            auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
            secs = std::max<int64_t>(0, now - away) / 1000.0;
        }
        add(since, {{"source", "etcd"}}, secs);
        auto counter = [&](const char* name, const char* help, const std::atomic<uint64_t>& v) {
            auto f = family(name, help, MetricType::Counter);
            add(f, {}, static_cast<double>(v.load()));
            out.push_back(std::move(f));
        };
        counter("hopless_etcd_watch_restarts_total",
                "The etcd watch re-established after a break (resumed, or listed again after a compaction)",
                e.watch_restarts);
        counter("hopless_etcd_relists_total", "Full lists of the prefix (the first, and after each compaction)",
                e.relists);
        counter("hopless_etcd_lease_grants_total", "Leases this host was granted for its registrations",
                e.lease_grants);
        counter("hopless_etcd_lease_renewals_total", "Keep-alives of this host's lease that etcd answered",
                e.lease_renewals);
        counter("hopless_etcd_lease_lost_total",
                "Times etcd said this host's lease was gone (a new one was granted and everything published again)",
                e.lease_lost);
    }
    for (auto* f : {&conns, &nobe, &udp, &stale, &aff, &bind, &destroyed, &svc_active, &svc_errors, &svc_bytes,
                    &svc_connect, &svc_rtt, &be_conns, &be_active, &be_errors, &be_bytes, &be_healthy, &in_conns,
                    &in_active, &in_bytes, &svcs, &reloads, &dnsq, &up, &since})
        out.push_back(std::move(*f));
    return out;
}

}  // namespace hl
