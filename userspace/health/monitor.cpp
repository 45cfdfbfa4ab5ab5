#include "health/monitor.h"

#include <spdlog/spdlog.h>

#include "health/netns_sockets.h"
#include "health/probe.h"

namespace hl::health {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {
std::string show(const Endpoint& ep) { return ep.first.with_port(ep.second); }
std::string show(const Name& n) { return n.first + "/" + n.second; }
double seconds(milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }
}  // namespace

// ---- one backend's probes

struct Monitor::Loop {
    Loop(asio::io_context& io, Name n, Endpoint e) : timer(io), name(std::move(n)), ep(std::move(e)) {}
    ~Loop() {
        if (inflight) inflight->cancel();
    }
    asio::steady_timer timer;
    Name name;
    Endpoint ep;
    std::shared_ptr<Probe> inflight;
    Clock::time_point started{};
};

Monitor::Monitor(asio::io_context& io, Sink& sink, FailureCounts* counts)
    : io_(io), sink_(sink), counts_(counts), ejection_timer_(io) {}

Monitor::~Monitor() {
    probes_.clear();  // loops first: they cancel their probes
}

void Monitor::emit(const Change& c) { sink_.backend_health(c); }

void Monitor::announce(const Change& c, uint8_t why, milliseconds ejection) {
    const ServiceHealth* s = tracker_.find(c.service);
    if (!s) return;
    auto b = s->backends.find(c.endpoint);
    if (b == s->backends.end()) return;
    sink_.backend_event(BackendEvent{s->id, b->second.id, c.endpoint, !c.healthy, why, ejection});
}

void Monitor::emit(const std::vector<Change>& changes) {
    for (const auto& c : changes) emit(c);
}

void Monitor::update(const TrackedService& s) {
    emit(tracker_.update(s, Clock::now()));
    // Again, whatever changed: the registry's copy of the flags follows
    // this one even if the service left the registry and came back between
    // two applies.
    emit(tracker_.unhealthy(s.name));
    sync_probes(s.name, tracker_.find(s.name));
    arm_ejection_timer();
}

void Monitor::remove(const Name& name) {
    if (!tracker_.find(name)) return;  // most services: no checks, nothing kept
    emit(tracker_.remove(name));
    probes_.erase(name);
    arm_ejection_timer();
}

void Monitor::set_fail_open(const Name& name, bool fail_open, size_t backends) {
    int r = tracker_.set_fail_open(name, fail_open);
    if (r > 0)
        spdlog::warn("service {}: every backend is unhealthy; failing open: new connects go to all {} of them",
                     show(name), backends);
    else if (r < 0)
        spdlog::info("service {}: a backend is healthy again; no longer failing open", show(name));
}

void Monitor::sync_probes(const Name& name, const ServiceHealth* s) {
    if (!s || !s->check) {
        probes_.erase(name);
        return;
    }
    ServiceProbes& sp = probes_[name];
    if (!(sp.check == *s->check)) {
        // New parameters: every loop starts over with them (the tracker's
        // counts stay).
        if (sp.check.netns != s->check->netns) {
            sp.netns.reset();
            sp.netns_error.clear();
        }
        sp.check = *s->check;
        sp.loops.clear();
    }
    for (auto it = sp.loops.begin(); it != sp.loops.end();)
        it = s->backends.count(it->first) ? std::next(it) : sp.loops.erase(it);
    const auto interval = milliseconds(sp.check.interval_ms);
    for (const auto& [ep, b] : s->backends) {
        if (sp.loops.count(ep)) continue;
        auto loop = std::make_shared<Loop>(io_, name, ep);
        sp.loops.emplace(ep, loop);
        // Spread over one interval: thousands of backends added at once
        // are not probed in one burst.
        std::uniform_int_distribution<long> d(0, std::max<long>(interval.count() - 1, 0));
        schedule(loop, milliseconds(d(rng_)));
    }
}

void Monitor::schedule(const std::shared_ptr<Loop>& loop, milliseconds after) {
    loop->timer.expires_after(after);
    loop->timer.async_wait([this, w = std::weak_ptr<Loop>(loop)](boost::system::error_code ec) {
        auto l = w.lock();
        if (ec || !l) return;
        run_probe(l);
    });
}

Result<NetnsSockets*> Monitor::netns_for(ServiceProbes& sp) {
    if (sp.netns && sp.netns->current()) return sp.netns.get();
    const std::string path = netns_path(sp.check.netns);
    if (auto shared = netns_[path].lock(); shared && shared->current()) {
        sp.netns = std::move(shared);
        return sp.netns.get();
    }
    auto opened = NetnsSockets::open(io_, sp.check.netns);
    if (!opened) {
        sp.netns.reset();
        return opened.error();
    }
    sp.netns = std::shared_ptr<NetnsSockets>(std::move(opened.value()));
    netns_[path] = sp.netns;
    for (auto it = netns_.begin(); it != netns_.end();) it = it->second.expired() ? netns_.erase(it) : std::next(it);
    return sp.netns.get();
}

void Monitor::run_probe(const std::shared_ptr<Loop>& loop) {
    auto sp = probes_.find(loop->name);
    if (sp == probes_.end()) return;
    const HealthCheck& check = sp->second.check;
    loop->started = Clock::now();
    // The next probe starts one interval after this one did, and never
    // while this one runs (its timeout is at most the interval).
    auto done = [this, w = std::weak_ptr<Loop>(loop), interval = milliseconds(check.interval_ms)](ProbeResult r) {
        auto l = w.lock();
        if (!l) return;
        l->inflight.reset();
        auto c = tracker_.probe_result(l->name, l->ep, r, WallClock::now());
        if (c) {
            const ServiceHealth* s = tracker_.find(l->name);
            const BackendHealth& b = s->backends.at(l->ep);
            if (!c->healthy)
                spdlog::warn("service {}: backend {} is unhealthy: {} probes failed in a row (last: {})", show(l->name),
                             show(l->ep), b.failures, r.detail);
            else
                spdlog::info("service {}: backend {} is healthy again: {} probes passed in a row", show(l->name),
                             show(l->ep), b.passes);
            emit(*c);
            announce(*c, HL_HEALTH_CHECK, milliseconds(0));
        }
        auto next = l->started + interval - Clock::now();
        schedule(l, std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(next)));
    };
    NetnsSockets* netns = nullptr;
    if (!check.netns.empty()) {
        auto ns = netns_for(sp->second);
        if (!ns) {
            // The prober cannot probe: the backend is not judged by it.
            if (ns.error().what() != sp->second.netns_error) {
                sp->second.netns_error = ns.error().what();
                spdlog::warn("service {}: health probes paused: {}", show(loop->name), sp->second.netns_error);
            }
            ProbeResult r;
            r.detail = ns.error().what();
            r.inconclusive = true;
            done(std::move(r));
            return;
        }
        if (!sp->second.netns_error.empty()) {
            spdlog::info("service {}: health probes from {} again", show(loop->name), (*ns)->path());
            sp->second.netns_error.clear();
        }
        netns = *ns;
    }
    loop->inflight = Probe::start(io_, loop->ep, check, netns, std::move(done));
}

void Monitor::connect_failure(const hl_connect_failure& ev) {
    auto e = tracker_.connect_failure(ev, Clock::now());
    if (!e) return;
    if (counts_)
        if (auto st = counts_->reset(e->backend_id); !st)
            spdlog::warn("service {}: backend {}: cannot reset the kernel's failure count: {}", show(e->change.service),
                         show(e->change.endpoint), st.error().what());
    spdlog::warn("service {}: backend {} ejected for {:.1f} s: {} connect failures in a row (ejection {}; {} of {} "
                 "backends ejected)",
                 show(e->change.service), show(e->change.endpoint), seconds(e->duration), ev.consecutive_failures,
                 e->nth, e->ejected_now, e->backends);
    if (e->flag_changed) {
        emit(e->change);
        announce(e->change, HL_HEALTH_OUTLIER, e->duration);
    }
    arm_ejection_timer();
}

void Monitor::arm_ejection_timer() {
    auto next = tracker_.next_ejection_end();
    if (next == armed_for_) return;
    armed_for_ = next;
    if (!next) {
        ejection_timer_.cancel();
        return;
    }
    ejection_timer_.expires_at(*next);
    ejection_timer_.async_wait([this, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec) {
        if (ec || alive.expired()) return;
        armed_for_.reset();
        for (const auto& c : tracker_.end_ejections(Clock::now())) {
            spdlog::info("service {}: backend {}: ejection over, it takes new connects again", show(c.service),
                         show(c.endpoint));
            emit(c);
            announce(c, HL_HEALTH_OUTLIER, milliseconds(0));
        }
        arm_ejection_timer();
    });
}

}  // namespace hl::health
