#include "health/tracker.h"

#include <algorithm>

namespace hl::health {

std::chrono::milliseconds ejection_time(const OutlierDetection& o, uint32_t nth) {
    const auto cap = std::chrono::duration_cast<std::chrono::milliseconds>(kMaxEjection);
    const uint64_t ms = uint64_t{o.base_ejection_time_ms} * std::max<uint32_t>(nth, 1);
    return std::min(std::chrono::milliseconds(ms), cap);
}

// Never more than max_ejection_percent of the backends at once, but one
// always may be: with two backends and 30%, one failing backend is still
// ejected (Envoy ejects at least one too).
bool may_eject(const OutlierDetection& o, size_t ejected, size_t backends) {
    if (ejected == 0) return backends > 0;
    return (ejected + 1) * 100 <= size_t{o.max_ejection_percent} * backends;
}

void Tracker::index(const Name& name, ServiceHealth& s) {
    for (auto& [ep, b] : s.backends) by_backend_id_[b.id] = Where{&s, &name, &ep, &b};
}

void Tracker::unindex(const ServiceHealth& s) {
    for (const auto& [ep, b] : s.backends) {
        auto it = by_backend_id_.find(b.id);
        if (it != by_backend_id_.end() && it->second.backend == &b) by_backend_id_.erase(it);
    }
}

void Tracker::forget(const Name& name, const Endpoint& ep, const BackendHealth& b, std::vector<Change>& changes) {
    if (b.ejected) ejection_ends_.erase({b.ejected_until, b.id});
    if (!b.healthy()) changes.push_back({name, ep, true});
}

std::vector<Change> Tracker::update(const TrackedService& s, Clock::time_point now) {
    if (!s.check && !s.outlier) return remove(s.name);
    auto [it, fresh] = services_.try_emplace(s.name);
    ServiceHealth& h = it->second;
    if (!fresh) unindex(h);
    h.id = s.id;
    h.check = s.check ? std::optional(*s.check) : std::nullopt;
    h.outlier = s.outlier ? std::optional(*s.outlier) : std::nullopt;
    std::vector<Change> changes;
    std::map<Endpoint, BackendHealth> next;
    for (const auto& tb : s.backends) {
        auto old = h.backends.find(tb.endpoint);
        // A backend new to the service starts healthy: its checks (or its
        // connects) have to prove otherwise.
        const bool known = old != h.backends.end();
        BackendHealth b = known ? std::move(old->second) : BackendHealth{};
        if (known) h.backends.erase(old);
        const bool was = b.healthy();
        if (!known && tb.was_quarantined) {
            if (h.check) {
                b.checks_ok = false;
                b.failures = h.check->unhealthy_threshold;
            } else if (h.outlier) {
                b.ejected = true;
                b.ejected_until = now + ejection_time(*h.outlier, 1);
            }
        }
        if (b.ejected && b.id != tb.id) ejection_ends_.erase({b.ejected_until, b.id});
        b.id = tb.id;
        if (!h.check) {  // the active producer left: its verdict with it
            b.checks_ok = true;
            b.failures = b.passes = 0;
        }
        if (b.ejected && !h.outlier) {  // so did the passive one
            ejection_ends_.erase({b.ejected_until, b.id});
            b.ejected = false;
        } else if (b.ejected) {
            ejection_ends_.insert({b.ejected_until, b.id});
        }
        if (!h.outlier) b.ejections = b.connect_failures = 0;
        if (was != b.healthy()) changes.push_back({s.name, tb.endpoint, b.healthy()});
        next.emplace(tb.endpoint, std::move(b));
    }
    for (const auto& [ep, b] : h.backends) forget(s.name, ep, b, changes);
    h.backends = std::move(next);
    index(it->first, h);
    return changes;
}

std::vector<Change> Tracker::remove(const Name& name) {
    std::vector<Change> changes;
    auto it = services_.find(name);
    if (it == services_.end()) return changes;
    unindex(it->second);
    for (const auto& [ep, b] : it->second.backends) forget(name, ep, b, changes);
    services_.erase(it);
    return changes;
}

std::optional<Change> Tracker::probe_result(const Name& name, const Endpoint& ep, const ProbeResult& r,
                                            WallClock::time_point at) {
    auto s = services_.find(name);
    if (s == services_.end() || !s->second.check) return std::nullopt;
    auto it = s->second.backends.find(ep);
    if (it == s->second.backends.end()) return std::nullopt;
    const HealthCheck& c = *s->second.check;
    BackendHealth& b = it->second;
    b.last = LastProbe{at, r};
    if (r.inconclusive) return std::nullopt;
    const bool was = b.healthy();
    if (r.ok) {
        b.failures = 0;
        ++b.passes;
        if (!b.checks_ok && b.passes >= c.healthy_threshold) b.checks_ok = true;
    } else {
        b.passes = 0;
        ++b.failures;
        if (b.checks_ok && b.failures >= c.unhealthy_threshold) b.checks_ok = false;
    }
    if (was == b.healthy()) return std::nullopt;
    return Change{name, ep, b.healthy()};
}

std::optional<Ejection> Tracker::connect_failure(const hl_connect_failure& ev, Clock::time_point now) {
    auto it = by_backend_id_.find(ev.backend_id);
    // An id the service does not (or no longer) own: the backend left
    // between the failure and now, and its id may be another's already.
    if (it == by_backend_id_.end() || it->second.service->id != ev.service_id) return std::nullopt;
    ServiceHealth& s = *it->second.service;
    BackendHealth& b = *it->second.backend;
    b.connect_failures = ev.consecutive_failures;
    if (!s.outlier || b.ejected || ev.consecutive_failures < s.outlier->consecutive_failures) return std::nullopt;
    size_t ejected = 0;
    for (const auto& [ep, o] : s.backends) ejected += o.ejected;
    if (!may_eject(*s.outlier, ejected, s.backends.size())) return std::nullopt;
    const bool was = b.healthy();
    ++b.ejections;
    b.ejected = true;
    const auto d = ejection_time(*s.outlier, b.ejections);
    b.ejected_until = now + d;
    ejection_ends_.insert({b.ejected_until, b.id});
    Ejection e;
    e.change = Change{*it->second.name, *it->second.endpoint, false};
    e.flag_changed = was;
    e.backend_id = b.id;
    e.duration = d;
    e.nth = b.ejections;
    e.ejected_now = ejected + 1;
    e.backends = s.backends.size();
    return e;
}

std::vector<Change> Tracker::end_ejections(Clock::time_point now) {
    std::vector<Change> changes;
    while (!ejection_ends_.empty() && ejection_ends_.begin()->first <= now) {
        auto [until, id] = *ejection_ends_.begin();
        ejection_ends_.erase(ejection_ends_.begin());
        auto it = by_backend_id_.find(id);
        if (it == by_backend_id_.end()) continue;
        BackendHealth& b = *it->second.backend;
        if (!b.ejected || b.ejected_until != until) continue;
        b.ejected = false;
        // The kernel's count was set to 0 at the ejection; what the event
        // said then is history.
        b.connect_failures = 0;
        if (b.healthy()) changes.push_back({*it->second.name, *it->second.endpoint, true});
    }
    return changes;
}

std::optional<Clock::time_point> Tracker::next_ejection_end() const {
    if (ejection_ends_.empty()) return std::nullopt;
    return ejection_ends_.begin()->first;
}

int Tracker::set_fail_open(const Name& name, bool fail_open) {
    auto it = services_.find(name);
    if (it == services_.end() || it->second.fail_open == fail_open) return 0;
    it->second.fail_open = fail_open;
    if (!fail_open) return -1;
    ++it->second.fail_opens;
    return 1;
}

const ServiceHealth* Tracker::find(const Name& name) const {
    auto it = services_.find(name);
    return it == services_.end() ? nullptr : &it->second;
}

std::vector<Change> Tracker::unhealthy(const Name& name) const {
    std::vector<Change> out;
    if (const auto* s = find(name))
        for (const auto& [ep, b] : s->backends)
            if (!b.healthy()) out.push_back({name, ep, false});
    return out;
}

}  // namespace hl::health
