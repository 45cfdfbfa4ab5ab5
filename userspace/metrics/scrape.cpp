#include "metrics/scrape.h"

#include <netinet/in.h>

#include <algorithm>
#include <chrono>

#include "metrics/histogram.h"
#include "metrics/text.h"

namespace hl {

namespace {

using prom::Type;

// Services per step of a family (one batched read of each map it needs);
// backends per step.
constexpr size_t kServiceStep = 256;
constexpr size_t kBackendStep = 1024;
// Steps per fill() at most, whatever they wrote.
constexpr int kStepsPerFill = 8;

const char* const kReasons[HL_REASONS] = {"refused", "timeout", "reset", "other"};

struct Family {
    const char* name;
    const char* help;
    Type type;
};

// Per service, in the order they are written.
enum ServiceFamily {
    kConnections, kNoBackend, kUdp, kStale, kAffinity, kBind, kDestroyed,
    kActive, kErrors, kBytes, kConnectHist, kRttHist,
    kInConnections, kInActive, kInBytes,
};
const Family kServiceFamilies[] = {
    {"hopless_service_connections_total", "Connects (and UDP sends) redirected to a backend", Type::Counter},
    {"hopless_service_no_backend_total",
     "Connects refused with ECONNREFUSED because the service had no usable backend", Type::Counter},
    {"hopless_service_udp_translations_total", "Unconnected UDP datagrams sent to a backend", Type::Counter},
    {"hopless_service_revnat_stale_total", "UDP replies whose reverse entry was stale (backend left the service)",
     Type::Counter},
    {"hopless_service_affinity_hits_total", "Connects that kept their client's backend", Type::Counter},
    {"hopless_service_bind_rejects_total", "bind() to a service VIP refused with EADDRINUSE", Type::Counter},
    {"hopless_service_sockets_destroyed_total",
     "Redirected sockets ended because their backend was removed or drained past drain_timeout", Type::Counter},
    {"hopless_service_active_connections", "Redirected TCP connections established and not yet closed", Type::Gauge},
    {"hopless_service_connect_errors_total", "Redirected TCP connects and connections that failed, by reason",
     Type::Counter},
    {"hopless_service_bytes_total", "Payload bytes of redirected TCP connections, counted at close", Type::Counter},
    {"hopless_service_connect_duration_seconds", "connect() to established, of redirected TCP connects",
     Type::Histogram},
    {"hopless_service_rtt_seconds", "Smoothed RTT of redirected TCP connections as they close", Type::Histogram},
    {"hopless_inbound_connections_total",
     "Connections accepted by tasks in attached cgroups on a backend address:port of the service", Type::Counter},
    {"hopless_inbound_active_connections", "Inbound connections (server side) established and not yet closed",
     Type::Gauge},
    {"hopless_inbound_bytes_total", "Payload bytes of inbound connections, counted at close", Type::Counter},
};

enum BackendFamily { kBeConnections, kBeActive, kBeErrors, kBeBytes, kBeHealthy };
const Family kBackendFamilies[] = {
    {"hopless_backend_connections_total", "Connects redirected to this backend", Type::Counter},
    {"hopless_backend_active_connections",
     "Redirected TCP connections to this backend established and not yet closed", Type::Gauge},
    {"hopless_backend_connect_errors_total",
     "Redirected TCP connects and connections to this backend that failed, by reason", Type::Counter},
    {"hopless_backend_bytes_total", "Payload bytes of redirected TCP connections to this backend, counted at close",
     Type::Counter},
    {"hopless_backend_healthy", "1 when the backend takes new connections", Type::Gauge},
};

enum HealthFamily { kEjections, kPanic, kPanics };
const Family kHealthFamilies[] = {
    {"hopless_backend_ejections_total",
     "Outlier ejections of this backend (consecutive connect failures seen by the kernel)", Type::Counter},
    {"hopless_service_panic",
     "1 while every usable backend of the service is unhealthy and hopless routes to all of them (fail open)",
     Type::Gauge},
    {"hopless_service_panic_total",
     "Times every usable backend of the service became unhealthy and hopless failed open", Type::Counter},
};

// The phases of a scrape, in order.
enum class Kind { IndexServices, IndexNames, IndexBackends, PresenceServices, PresenceBackends, Service, Backend,
                  Daemon, Health, Done };
struct Phase {
    Kind kind;
    int family = 0;
};
const Phase kPhases[] = {
    {Kind::IndexServices},           {Kind::IndexNames},
    {Kind::IndexBackends},           {Kind::PresenceServices},
    {Kind::PresenceBackends},        {Kind::Service, kConnections},
    {Kind::Service, kNoBackend},     {Kind::Service, kUdp},
    {Kind::Service, kStale},         {Kind::Service, kAffinity},
    {Kind::Service, kBind},          {Kind::Service, kDestroyed},
    {Kind::Service, kActive},        {Kind::Service, kErrors},
    {Kind::Service, kBytes},         {Kind::Service, kConnectHist},
    {Kind::Service, kRttHist},       {Kind::Backend, kBeConnections},
    {Kind::Backend, kBeActive},      {Kind::Backend, kBeErrors},
    {Kind::Backend, kBeBytes},       {Kind::Backend, kBeHealthy},
    {Kind::Service, kInConnections}, {Kind::Service, kInActive},
    {Kind::Service, kInBytes},       {Kind::Daemon},
    {Kind::Health, kEjections},      {Kind::Health, kPanic},
    {Kind::Health, kPanics},         {Kind::Done},
};

// Which services a family has series for. Lifecycle series of a service
// appear with its first followed connection (as a client library's
// labelled series appear at their first use): at 65,536 mostly idle
// services a scrape then does not carry a dozen zeros for each.
enum class Only { All, Tcp, Lifecycle, Inbound };
Only only(int fam) {
    switch (fam) {
        case kActive: return Only::Tcp;
        case kErrors:
        case kBytes:
        case kConnectHist:
        case kRttHist: return Only::Lifecycle;
        case kInConnections:
        case kInActive:
        case kInBytes: return Only::Inbound;
        default: return Only::All;
    }
}

void labelled(std::string& out, const char* name, std::string_view base, const char* key, const char* value,
              uint64_t v, std::string& scratch) {
    scratch.assign(base);
    prom::label(scratch, key, value);
    prom::sample(out, name, scratch, v);
}

// Orders entries by their id, dropping repeats (a hash walk may repeat an
// entry that moved). Ids are dense (the daemon's allocators hand out the
// lowest free one), so a pass over the id range is linear: a comparison
// sort of 262,144 backends held the event loop for ~20 ms.
template <class T>
void order_by_id(std::vector<T>& v) {
    if (v.empty()) return;
    uint32_t max = 0;
    for (const auto& e : v) max = std::max(max, e.id);
    if (max > 16 * v.size() + (1u << 20)) {  // not dense after all: a comparison sort
        std::sort(v.begin(), v.end(), [](const T& a, const T& b) { return a.id < b.id; });
        v.erase(std::unique(v.begin(), v.end(), [](const T& a, const T& b) { return a.id == b.id; }), v.end());
        return;
    }
    constexpr uint32_t kNone = UINT32_MAX;
    std::vector<uint32_t> rank(size_t{max} + 1, kNone);
    for (size_t i = 0; i < v.size();) {  // repeats out
        if (rank[v[i].id] != kNone) {
            v[i] = v.back();
            v.pop_back();
            continue;
        }
        rank[v[i].id] = 0;
        ++i;
    }
    uint32_t r = 0;
    for (auto& x : rank)
        if (x != kNone) x = r++;
    for (size_t i = 0; i < v.size(); ++i)  // each swap puts one entry in its place
        while (rank[v[i].id] != i) std::swap(v[i], v[rank[v[i].id]]);
}

}  // namespace

Scrape::Svc* Scrape::find_service(uint32_t id) {
    auto it = std::lower_bound(svcs_.begin(), svcs_.end(), id, [](const Svc& s, uint32_t i) { return s.id < i; });
    return it != svcs_.end() && it->id == id ? &*it : nullptr;
}

void Scrape::next_phase() {
    ++phase_;
    pos_ = 0;
    cursor_ = MapCursor{};
    header_ = false;
    health_next_.reset();
}

bool Scrape::fill(std::string& out, size_t want) {
    for (int steps = 0; steps < kStepsPerFill && out.size() < want; ++steps) {
        if (kPhases[phase_].kind == Kind::Done) break;
        auto t0 = std::chrono::steady_clock::now();
        int ph = phase_;
        step(out);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (ms > 3) fprintf(stderr, "SLOWSTEP phase %d pos %zu %.2f ms\n", ph, pos_, ms);
    }
    return kPhases[phase_].kind != Kind::Done;
}

void Scrape::step(std::string& out) {
    const Phase& p = kPhases[phase_];
    const bool datapath = in_.datapath != nullptr;
    switch (p.kind) {
        case Kind::IndexServices: return datapath ? index_services() : next_phase();
        case Kind::IndexNames: return datapath ? index_names() : next_phase();
        case Kind::IndexBackends: return datapath ? index_backends() : next_phase();
        case Kind::PresenceServices: return datapath ? presence_services() : next_phase();
        case Kind::PresenceBackends: return datapath ? presence_backends() : next_phase();
        case Kind::Service: return service_family(out, p.family);
        case Kind::Backend: return backend_family(out, p.family);
        case Kind::Daemon: return daemon_families(out);
        case Kind::Health: return health_family(out, p.family);
        case Kind::Done: return;
    }
}

// ---- the index

void Scrape::index_services() {
    in_.datapath->services(cursor_, [&](const hl_service_key& k, const hl_service& v) {
        Svc s;
        s.id = v.id;
        s.tcp = k.proto == IPPROTO_TCP;
        svcs_.push_back(s);
    });
    if (!cursor_.done) return;
    order_by_id(svcs_);
    svcs_.shrink_to_fit();
    next_phase();
}

void Scrape::index_names() {
    std::string l;
    in_.datapath->service_names(cursor_, [&](uint32_t id, const hl_service_meta& m) {
        Svc* s = find_service(id);
        if (!s || (s->bits & kNamed)) return;
        l.clear();
        prom::label(l, "namespace", std::string_view(m.ns, strnlen(m.ns, HL_NAME_LEN)));
        prom::label(l, "service", std::string_view(m.name, strnlen(m.name, HL_NAME_LEN)));
        s->label_at = static_cast<uint32_t>(labels_.size());
        s->label_len = static_cast<uint16_t>(l.size());
        s->bits |= kNamed;
        labels_ += l;
    });
    if (!cursor_.done) return;
    // A service whose name the kernel does not hold (written just before
    // its entry): named by its id, as `hopless service list` names it.
    for (auto& s : svcs_) {
        if (s.bits & kNamed) continue;
        l.clear();
        prom::label(l, "namespace", "");
        prom::label(l, "service", "service-" + std::to_string(s.id));
        s.label_at = static_cast<uint32_t>(labels_.size());
        s.label_len = static_cast<uint16_t>(l.size());
        labels_ += l;
    }
    labels_.shrink_to_fit();
    next_phase();
}

void Scrape::index_backends() {
    in_.datapath->backends(cursor_, [&](uint32_t id, const hl_backend& b) {
        Svc* s = find_service(b.service_id);
        if (!s) return;  // its service is going or not there yet
        Be e;
        e.id = id;
        e.svc = static_cast<uint32_t>(s - svcs_.data());
        std::memcpy(e.addr, b.addr, sizeof e.addr);
        e.port = b.port;
        e.state = b.state;
        bes_.push_back(e);
    });
    if (!cursor_.done) return;
    order_by_id(bes_);
    bes_.shrink_to_fit();
    next_phase();
}

// Which services and backends have lifecycle or inbound series (Only).
void Scrape::presence_services() {
    if (pos_ >= svcs_.size()) return next_phase();
    const size_t end = std::min(svcs_.size(), pos_ + kServiceStep);
    const uint32_t first = svcs_[pos_].id, last = svcs_[end - 1].id + 1;
    in_.datapath->service_lc(first, last, [&](uint32_t id, const hl_service_lc& v) {
        Svc* s = find_service(id);
        if (!s) return;
        bool lc = v.established != 0;
        for (auto e : v.errors) lc = lc || e != 0;
        if (lc) s->bits |= kLifecycle;
        if (v.inbound) s->bits |= kInbound;
    });
    in_.datapath->service_gauge(first, last, [&](uint32_t id, const hl_service_gauge& v) {
        Svc* s = find_service(id);
        if (!s) return;
        if (v.active) s->bits |= kLifecycle;
        if (v.inbound_active) s->bits |= kInbound;
    });
    pos_ = end;
}

void Scrape::presence_backends() {
    if (pos_ >= bes_.size()) return next_phase();
    const size_t end = std::min(bes_.size(), pos_ + kBackendStep);
    const uint32_t first = bes_[pos_].id, last = bes_[end - 1].id + 1;
    auto mark = [&](uint32_t id) {
        auto it = std::lower_bound(bes_.begin() + static_cast<ptrdiff_t>(pos_), bes_.begin() + static_cast<ptrdiff_t>(end),
                                   id, [](const Be& b, uint32_t i) { return b.id < i; });
        if (it != bes_.end() && it->id == id) it->bits |= kLifecycle;
    };
    in_.datapath->backend_connections(first, last, [&](uint32_t id, uint64_t n) {
        if (n) mark(id);
    });
    in_.datapath->backend_live(first, last, [&](uint32_t id, const hl_backend_live& v) {
        if (v.active) mark(id);
    });
    in_.datapath->backend_lc(first, last, [&](uint32_t id, const hl_backend_lc& v) {
        for (auto e : v.errors)
            if (e) return mark(id);
    });
    pos_ = end;
}

// ---- the families

void Scrape::service_family(std::string& out, int fam) {
    const Family& f = kServiceFamilies[fam];
    if (!header_) {
        prom::family(out, f.name, f.help, f.type);
        header_ = true;
    }
    if (!in_.datapath || pos_ >= svcs_.size()) return next_phase();
    const size_t end = std::min(svcs_.size(), pos_ + kServiceStep);
    const Only o = only(fam);
    auto wanted = [&](const Svc& s) {
        switch (o) {
            case Only::All: return true;
            case Only::Tcp: return s.tcp != 0;
            case Only::Lifecycle: return s.tcp && (s.bits & kLifecycle);
            case Only::Inbound: return s.tcp && (s.bits & kInbound);
        }
        return false;
    };
    // Nothing to write in this step (idle services): nothing to read.
    if (std::none_of(svcs_.begin() + static_cast<ptrdiff_t>(pos_), svcs_.begin() + static_cast<ptrdiff_t>(end), wanted)) {
        pos_ = end;
        return;
    }
    // The values come in id order, as the index is: a merge.
    size_t at = pos_;
    auto match = [&](uint32_t id) -> const Svc* {
        while (at < end && svcs_[at].id < id) ++at;
        return at < end && svcs_[at].id == id && wanted(svcs_[at]) ? &svcs_[at] : nullptr;
    };
    const uint32_t first = svcs_[pos_].id, last = svcs_[end - 1].id + 1;
    const auto* src = in_.datapath;
    switch (fam) {
        case kConnections:
        case kNoBackend:
        case kUdp:
        case kStale:
        case kAffinity:
        case kBind:
        case kDestroyed:
            src->service_stats(first, last, [&](uint32_t id, const hl_service_stats& v) {
                const Svc* s = match(id);
                if (!s) return;
                const uint64_t values[] = {v.connections,   v.no_backend,   v.udp_translations, v.revnat_stale,
                                           v.affinity_hits, v.bind_rejects, v.sockets_destroyed};
                prom::sample(out, f.name, labels(*s), values[fam - kConnections]);
            });
            break;
        case kActive:
        case kInActive:
            src->service_gauge(first, last, [&](uint32_t id, const hl_service_gauge& v) {
                if (const Svc* s = match(id))
                    prom::sample(out, f.name, labels(*s), fam == kActive ? v.active : v.inbound_active);
            });
            break;
        case kErrors:
        case kBytes:
        case kInConnections:
        case kInBytes:
            src->service_lc(first, last, [&](uint32_t id, const hl_service_lc& v) {
                const Svc* s = match(id);
                if (!s) return;
                if (fam == kErrors) {
                    for (int r = 0; r < HL_REASONS; ++r)
                        labelled(out, f.name, labels(*s), "reason", kReasons[r], v.errors[r], scratch_);
                } else if (fam == kBytes) {
                    labelled(out, f.name, labels(*s), "direction", "sent", v.bytes_sent, scratch_);
                    labelled(out, f.name, labels(*s), "direction", "received", v.bytes_received, scratch_);
                } else if (fam == kInConnections) {
                    prom::sample(out, f.name, labels(*s), v.inbound);
                } else {
                    labelled(out, f.name, labels(*s), "direction", "sent", v.inbound_bytes_sent, scratch_);
                    labelled(out, f.name, labels(*s), "direction", "received", v.inbound_bytes_received, scratch_);
                }
            });
            break;
        case kConnectHist:
        case kRttHist:
            src->service_hist(first, last, [&](uint32_t id, const hl_service_hist& v) {
                const Svc* s = match(id);
                const hl_hist& h = fam == kConnectHist ? v.connect : v.rtt;
                if (s && hist_count(h)) prom::histogram(out, f.name, labels(*s), h);
            });
            break;
    }
    pos_ = end;
}

void Scrape::backend_labels(const Be& b) {
    scratch_.assign(labels(svcs_[b.svc]));
    scratch_ += ",backend=\"";
    prom::endpoint(scratch_, b.addr, b.port);  // digits, dots, colons, brackets: nothing to escape
    scratch_ += '"';
}

void Scrape::backend_family(std::string& out, int fam) {
    const Family& f = kBackendFamilies[fam];
    if (!header_) {
        prom::family(out, f.name, f.help, f.type);
        header_ = true;
    }
    if (!in_.datapath || pos_ >= bes_.size()) return next_phase();
    const size_t end = std::min(bes_.size(), pos_ + kBackendStep);
    const bool lifecycle = fam == kBeActive || fam == kBeErrors || fam == kBeBytes;
    auto wanted = [&](const Be& b) { return !lifecycle || (svcs_[b.svc].tcp && (b.bits & kLifecycle)); };
    if (std::none_of(bes_.begin() + static_cast<ptrdiff_t>(pos_), bes_.begin() + static_cast<ptrdiff_t>(end), wanted)) {
        pos_ = end;
        return;
    }
    size_t at = pos_;
    auto match = [&](uint32_t id) -> const Be* {
        while (at < end && bes_[at].id < id) ++at;
        return at < end && bes_[at].id == id && wanted(bes_[at]) ? &bes_[at] : nullptr;
    };
    const uint32_t first = bes_[pos_].id, last = bes_[end - 1].id + 1;
    const auto* src = in_.datapath;
    std::string l;
    switch (fam) {
        case kBeConnections:
            src->backend_connections(first, last, [&](uint32_t id, uint64_t n) {
                if (const Be* b = match(id)) {
                    backend_labels(*b);
                    prom::sample(out, f.name, scratch_, n);
                }
            });
            break;
        case kBeActive:
            src->backend_live(first, last, [&](uint32_t id, const hl_backend_live& v) {
                if (const Be* b = match(id)) {
                    backend_labels(*b);
                    prom::sample(out, f.name, scratch_, v.active);
                }
            });
            break;
        case kBeErrors:
        case kBeBytes:
            src->backend_lc(first, last, [&](uint32_t id, const hl_backend_lc& v) {
                const Be* b = match(id);
                if (!b) return;
                backend_labels(*b);
                if (fam == kBeErrors) {
                    for (int r = 0; r < HL_REASONS; ++r)
                        labelled(out, f.name, scratch_, "reason", kReasons[r], v.errors[r], l);
                } else {
                    labelled(out, f.name, scratch_, "direction", "sent", v.bytes_sent, l);
                    labelled(out, f.name, scratch_, "direction", "received", v.bytes_received, l);
                }
            });
            break;
        case kBeHealthy:
            for (size_t i = pos_; i < end; ++i) {
                backend_labels(bes_[i]);
                prom::sample(out, f.name, scratch_, uint64_t{bes_[i].state == HL_BACKEND_ACTIVE});
            }
            break;
    }
    pos_ = end;
}

// The daemon's own families: a handful of series, in one step.
void Scrape::daemon_families(std::string& out) {
    next_phase();
    prom::family(out, "hopless_services", "Services loaded in the datapath", Type::Gauge);
    if (in_.datapath) prom::sample(out, "hopless_services", "", uint64_t{svcs_.size()});
    const DaemonCounters* c = in_.daemon;
    if (!c) return;
    std::string l;
    auto one = [&](const char* name, const char* key, const char* value, uint64_t v) {
        l.clear();
        prom::label(l, key, value);
        prom::sample(out, name, l, v);
    };
    prom::family(out, "hopless_config_reloads_total", "Config loads by result", Type::Counter);
    one("hopless_config_reloads_total", "result", "ok", c->reloads_ok.load());
    one("hopless_config_reloads_total", "result", "rejected", c->reloads_rejected.load());
    prom::family(out, "hopless_dns_queries_total", "DNS replies sent by the responder, by rcode", Type::Counter);
    for (size_t i = 0; i < dns::QueryCounters::kRcodes.size(); ++i)
        one("hopless_dns_queries_total", "rcode", dns::QueryCounters::kRcodes[i], c->dns.get(i));
    // Sources: whether each is in sync, and for how long one has not been
    // (its last state stays in force meanwhile).
    const auto& e = c->etcd;
    prom::family(out, "hopless_registry_source_up",
                 "1 when the source is in sync; 0 while it is away (its last good state stays in force)", Type::Gauge);
    one("hopless_registry_source_up", "source", "file", c->file_up ? 1 : 0);
    one("hopless_registry_source_up", "source", "api", 1);
    if (e.configured) one("hopless_registry_source_up", "source", "etcd", e.up ? 1 : 0);
    prom::family(out, "hopless_registry_last_sync_seconds", "Seconds since the source was last in sync (0 while it is)",
                 Type::Gauge);
    if (!e.configured) return;
    double secs = 0;
    if (int64_t away = e.away_since_ms.load()) {
        auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        secs = static_cast<double>(std::max<int64_t>(0, now - away)) / 1000.0;
    }
    l.clear();
    prom::label(l, "source", "etcd");
    prom::sample(out, "hopless_registry_last_sync_seconds", l, secs);
    auto counter = [&](const char* name, const char* help, const std::atomic<uint64_t>& v) {
        prom::family(out, name, help, Type::Counter);
        prom::sample(out, name, "", v.load());
    };
    counter("hopless_etcd_watch_restarts_total",
            "The etcd watch re-established after a break (resumed, or listed again after a compaction)",
            e.watch_restarts);
    counter("hopless_etcd_relists_total", "Full lists of the prefix (the first, and after each compaction)", e.relists);
    counter("hopless_etcd_lease_grants_total", "Leases this host was granted for its registrations", e.lease_grants);
    counter("hopless_etcd_lease_renewals_total", "Keep-alives of this host's lease that etcd answered",
            e.lease_renewals);
    counter("hopless_etcd_lease_lost_total",
            "Times etcd said this host's lease was gone (a new one was granted and everything published again)",
            e.lease_lost);
}

// Health's families, from the monitor's tracker: only services with a
// health_check or an outlier_detection have series; ejections only with
// outlier_detection. Walked in steps of 256 services, each resuming after
// the last one written (the tracker may change between steps).
void Scrape::health_family(std::string& out, int fam) {
    const Family& f = kHealthFamilies[fam];
    if (!header_) {
        prom::family(out, f.name, f.help, f.type);
        header_ = true;
    }
    if (!in_.health) return next_phase();
    const auto& all = in_.health->services();
    auto it = health_next_ ? all.upper_bound(*health_next_) : all.begin();
    std::string l;
    for (int n = 0; n < 256 && it != all.end(); ++n, ++it) {
        const auto& [name, s] = *it;
        l.clear();
        prom::label(l, "namespace", name.first);
        prom::label(l, "service", name.second);
        if (fam == kPanic) prom::sample(out, f.name, l, uint64_t{s.fail_open});
        else if (fam == kPanics) prom::sample(out, f.name, l, s.fail_opens);
        else if (s.outlier)
            for (const auto& [ep, b] : s.backends)
                labelled(out, f.name, l, "backend", ep.first.with_port(ep.second).c_str(), b.ejections, scratch_);
        health_next_ = name;
    }
    if (it == all.end()) next_phase();
}

}  // namespace hl
