#include "registry/registry.h"

#include <algorithm>
#include <tuple>

namespace hl {

const char* to_string(Source s) {
    switch (s) {
        case Source::File: return "file";
        case Source::Api: return "api";
        case Source::Dns: return "dns";
        case Source::Etcd: return "etcd";
    }
    return "?";
}

std::string to_string(const Registry::Name& n) { return n.first + "/" + n.second; }

namespace {

auto by_id = [](const Registration& r, std::string_view id) { return r.id < id; };

std::vector<Registration>::iterator find_reg(std::vector<Registration>& regs, const std::string& id) {
    auto it = std::lower_bound(regs.begin(), regs.end(), id, by_id);
    return it != regs.end() && it->id == id ? it : regs.end();
}

RegistryError not_found(const Registry::Name& n) {
    return {RegistryErrc::NotFound, "service " + to_string(n) + " does not exist"};
}

}  // namespace

void Registry::drop_if_empty(EntryMap::iterator it) {
    if (it->second.empty()) entries_.erase(it);
}

// Two services of one namespace may not share VIP, port and protocol. Only
// services with an explicit VIP can clash here (pool VIPs are allocated
// free). A walk over the services: defining a service is rare next to
// registering endpoints, which never comes here.
std::optional<std::string> Registry::key_clash(const Service& s, const Name& self) const {
    if (!s.vip) return std::nullopt;
    for (const auto& [name, e] : entries_) {
        if (name == self || name.first != s.ns) continue;
        const Service* d = e.definition();
        if (d && d->vip && *d->vip == *s.vip && d->port == s.port && d->protocol == s.protocol)
            return "vip: " + s.vip->with_port(s.port) + "/" + to_string(s.protocol) + " is already used by service " +
                   to_string(name) + " (" + to_string(e.source()) + ")";
    }
    return std::nullopt;
}

Status Registry::set_file_services(std::vector<Service> services) {
    // The file's services in name order, walked beside entries_ (also in
    // name order) as a merge: each side is visited once, with one name
    // comparison a step, and no lookup (a tree search of string compares)
    // per service. At 65,536 services the lookups were a third of a reload.
    auto name_of = [&](size_t i) { return std::tie(services[i].ns, services[i].name); };
    auto before = [&](size_t a, size_t b) { return name_of(a) < name_of(b); };
    // An edit rarely moves services around: the last file's order, checked
    // in one pass, usually still sorts this one.
    std::vector<uint32_t> order = std::move(file_order_);
    if (order.size() != services.size() || !std::is_sorted(order.begin(), order.end(), before)) {
        order.resize(services.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
        std::sort(order.begin(), order.end(), before);
    }
    // Visits, in name order: file(i) for a file service with no entry,
    // both(i, it) for one that has one, entry(it) for an entry the file
    // does not name. Callbacks may not erase or insert.
    auto merge = [&](auto&& file, auto&& both, auto&& entry) {
        auto it = entries_.begin();
        for (size_t i : order) {
            auto key = name_of(i);
            for (; it != entries_.end() && std::tie(it->first.first, it->first.second) < key; ++it) entry(it);
            if (it != entries_.end() && std::tie(it->first.first, it->first.second) == key) both(i, it++);
            else file(i);
        }
        for (; it != entries_.end(); ++it) entry(it);
    };
    // Check first: nothing changes when the file clashes with another source.
    std::vector<std::string> errors;
    bool api_vips = false;
    // A service the file does not define, defined through the API or in etcd.
    auto other_def = [](const Entry& e) { return e.api() ? e.api() : e.etcd_def(); };
    merge([](size_t) {},
          [&](size_t i, EntryMap::iterator it) {
              const Service& s = services[i];
              if (it->second.api() && !(*it->second.api() == s))
                  errors.push_back("services[" + std::to_string(i) + "]: service " + to_string(it->first) +
                                   " is defined by the config file and, differently, by the control API (delete it "
                                   "through the API or make the two agree)");
              if (it->second.dns())
                  errors.push_back("services[" + std::to_string(i) + "].name: '" + s.name +
                                   "' is the DNS responder's own service");
          },
          [&](EntryMap::iterator it) {
              const Service* o = other_def(it->second);
              api_vips |= o && o->vip;
          });
    // A file VIP that an API (or etcd) service already uses (only when one has a VIP).
    if (api_vips) {
        std::map<std::tuple<std::string, IpAddress, uint16_t, Protocol>, Name> file_keys;
        for (const auto& s : services)
            if (s.vip) file_keys.emplace(std::make_tuple(s.ns, *s.vip, s.port, s.protocol), Name{s.ns, s.name});
        merge([](size_t) {}, [](size_t, EntryMap::iterator) {},
              [&](EntryMap::iterator it) {
                  const Service* o = other_def(it->second);
                  if (!o || !o->vip) return;
                  auto k = file_keys.find(std::make_tuple(it->first.first.str(), *o->vip, o->port, o->protocol));
                  if (k != file_keys.end())
                      errors.push_back("service " + to_string(k->second) + ": vip " + o->vip->with_port(o->port) +
                                       "/" + to_string(o->protocol) + " is already used by service " +
                                       to_string(it->first) +
                                       (it->second.api() ? " (defined through the control API)" : " (defined in etcd)"));
              });
    }
    if (!errors.empty()) {
        file_order_ = std::move(order);
        std::string msg = "invalid config: ";
        for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "; " : "") + errors[i];
        return Error{msg, 0};
    }
    // Apply: what the walk finds is noted first (it may not change the
    // tree), then done; new entries go in with their neighbour as the hint.
    std::vector<EntryMap::iterator> gone;
    std::vector<std::pair<size_t, EntryMap::iterator>> changed;
    std::vector<size_t> added;
    merge([&](size_t i) { added.push_back(i); },
          [&](size_t i, EntryMap::iterator it) {
              const Entry& e = it->second;
              if (!e.file || !(*e.file == services[i])) changed.push_back({i, it});
          },
          [&](EntryMap::iterator it) {
              if (it->second.file) gone.push_back(it);
          });
    for (auto it : gone) {
        it->second.file.reset();
        touch(it->first);
        if (it->second.empty()) entries_.erase(it);
    }
    for (auto& [i, it] : changed) {
        it->second.file = std::make_unique<const Service>(std::move(services[i]));
        touch(it->first);
    }
    for (size_t i : added) {
        Service& s = services[i];
        Name n{s.ns, s.name};
        auto it = entries_.emplace_hint(entries_.lower_bound(n), std::move(n), Entry{});
        it->second.file = std::make_unique<const Service>(std::move(s));
        touch(it->first);
    }
    file_order_ = std::move(order);
    return ok_status();
}

RegResult<bool> Registry::put_api_service(Service s) {
    Name n{s.ns, s.name};
    auto it = entries_.find(n);
    if (it != entries_.end() && it->second.file)
        return RegistryError{RegistryErrc::Conflict, "service " + to_string(n) +
                                                         " is defined by the config file: change it there"};
    if (it != entries_.end() && it->second.dns())
        return RegistryError{RegistryErrc::Conflict,
                             "name: '" + s.name + "' is the DNS responder's own service"};
    if (auto clash = key_clash(s, n)) return RegistryError{RegistryErrc::Conflict, *clash};
    const bool fresh = it == entries_.end() || !it->second.api();
    Entry& e = entries_[n];
    if (e.api() && *e.api() == s) return false;
    e.set_api(std::make_unique<const Service>(std::move(s)));
    touch(n);
    return fresh;
}

RegResult<bool> Registry::delete_api_service(const Name& n) {
    auto it = entries_.find(n);
    if (it == entries_.end() || !it->second.definition()) return not_found(n);
    if (it->second.file)
        return RegistryError{RegistryErrc::Conflict, "service " + to_string(n) +
                                                         " is defined by the config file: remove it there"};
    if (!it->second.api())
        return RegistryError{RegistryErrc::Conflict,
                             "service " + to_string(n) + (it->second.etcd_def()
                                                              ? " is defined in etcd"
                                                              : " is the DNS responder's own service")};
    it->second.set_api(nullptr);
    touch(n);
    drop_if_empty(it);
    return true;
}

RegResult<bool> Registry::register_endpoint(const Name& n, Registration r, Clock::time_point now,
                                            bool undefined_ok) {
    auto it = entries_.find(n);
    if (!undefined_ok && (it == entries_.end() || !it->second.definition())) return not_found(n);
    if (it == entries_.end()) it = entries_.emplace(n, Entry{}).first;
    const Service* def = it->second.definition();
    if (def && def->vip && r.address == *def->vip)
        return RegistryError{RegistryErrc::Invalid, "address: " + r.address.to_string() + " is the service's own VIP"};
    auto& regs = it->second.regs;
    for (const auto& o : regs)
        if (o.id != r.id && o.address == r.address && o.port == r.port)
            return RegistryError{RegistryErrc::Conflict, "address: " + r.address.with_port(r.port) +
                                                             " is already registered as endpoint '" + o.id.str() + "'"};
    if (r.ttl_s) r.expires = now + std::chrono::seconds(*r.ttl_s);
    auto pos = std::lower_bound(regs.begin(), regs.end(), r.id, by_id);
    if (pos != regs.end() && pos->id == r.id) {
        if (pos->address != r.address || pos->port != r.port)
            return RegistryError{RegistryErrc::Conflict, "id: endpoint '" + r.id.str() + "' is registered with address " +
                                                             pos->address.with_port(pos->port) +
                                                             " (deregister it first)"};
        if (pos->weight != r.weight) touch(n);
        ttl_count_ += r.ttl_s.has_value();
        ttl_count_ -= pos->ttl_s.has_value();
        *pos = std::move(r);
        return false;
    }
    ttl_count_ += r.ttl_s.has_value();
    regs.insert(pos, std::move(r));
    ++registration_count_;
    touch(n);
    return true;
}

RegResult<bool> Registry::heartbeat(const Name& n, const std::string& id, Clock::time_point now) {
    auto it = entries_.find(n);
    if (it == entries_.end() || !it->second.definition()) return not_found(n);
    auto r = find_reg(it->second.regs, id);
    if (r == it->second.regs.end())
        return RegistryError{RegistryErrc::NotFound, "endpoint '" + id + "' of service " + to_string(n) +
                                                         " is not registered"};
    if (r->ttl_s) r->expires = now + std::chrono::seconds(*r->ttl_s);
    return true;
}

RegResult<bool> Registry::deregister(const Name& n, const std::string& id) {
    auto it = entries_.find(n);
    if (it == entries_.end()) return not_found(n);
    auto r = find_reg(it->second.regs, id);
    if (r == it->second.regs.end())
        return RegistryError{RegistryErrc::NotFound, "endpoint '" + id + "' of service " + to_string(n) +
                                                         " is not registered"};
    ttl_count_ -= r->ttl_s.has_value();
    it->second.regs.erase(r);
    --registration_count_;
    touch(n);
    drop_if_empty(it);
    return true;
}

std::vector<std::pair<Registry::Name, std::string>> Registry::expire(Clock::time_point now) {
    std::vector<std::pair<Name, std::string>> gone;
    if (!ttl_count_) return gone;
    for (auto it = entries_.begin(); it != entries_.end();) {
        auto& regs = it->second.regs;
        auto keep = std::remove_if(regs.begin(), regs.end(), [&](const Registration& r) {
            if (!r.ttl_s || r.expires > now) return false;
            gone.emplace_back(it->first, r.id);
            return true;
        });
        if (keep != regs.end()) {
            registration_count_ -= static_cast<size_t>(regs.end() - keep);
            ttl_count_ -= static_cast<size_t>(regs.end() - keep);
            regs.erase(keep, regs.end());
            touch(it->first);
            if (it->second.empty()) {
                it = entries_.erase(it);
                continue;
            }
        }
        ++it;
    }
    return gone;
}

std::optional<Clock::time_point> Registry::next_expiry() const {
    std::optional<Clock::time_point> next;
    if (!ttl_count_) return next;
    for (const auto& [n, e] : entries_)
        for (const auto& r : e.regs)
            if (r.ttl_s && (!next || r.expires < *next)) next = r.expires;
    return next;
}

void Registry::set_dns(std::optional<IpAddress> vip, std::vector<Backend> listen, const std::set<std::string>& nss) {
    auto make = [&](const std::string& ns, Protocol p) {
        Service s;
        s.name = p == Protocol::Udp ? kDnsUdpName : kDnsTcpName;
        s.ns = ns;
        s.vip = vip;
        s.port = 53;
        s.protocol = p;
        s.backends = listen;
        return s;
    };
    std::set<Name> want;
    if (vip)
        for (const auto& ns : nss) {
            for (Protocol p : {Protocol::Udp, Protocol::Tcp}) {
                Service s = make(ns, p);
                Name n{ns, s.name};
                want.insert(n);
                auto it = entries_.find(n);
                if (it != entries_.end() && (it->second.file || it->second.api() || it->second.etcd_def()))
                    continue;  // a user's: theirs wins
                Entry& e = entries_[n];
                if (e.dns() && *e.dns() == s) continue;
                e.set_dns(std::make_unique<const Service>(std::move(s)));
                touch(n);
            }
        }
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->second.dns() && !want.count(it->first)) {
            it->second.set_dns(nullptr);
            touch(it->first);
            if (it->second.empty()) {
                it = entries_.erase(it);
                continue;
            }
        }
        ++it;
    }
}

std::set<std::string> Registry::namespaces() const {
    std::set<std::string> out;
    for (const auto& [n, e] : entries_)
        if (e.file || e.api() || e.etcd_def()) out.insert(n.first.str());
    return out;
}

bool Registry::exists(const Name& n) const {
    auto it = entries_.find(n);
    return it != entries_.end() && it->second.definition();
}

std::optional<Registry::ServiceView> Registry::view(const Name& n) const {
    auto it = entries_.find(n);
    if (it == entries_.end() || !it->second.definition()) return std::nullopt;
    const Entry& e = it->second;
    ServiceView v{n, e.source(), e.definition(), {}};
    const Service* etcd_def = e.etcd_def();
    v.etcd_conflict = etcd_def && etcd_def != v.definition && !(*etcd_def == *v.definition);
    std::set<std::pair<IpAddress, uint16_t>> seen;
    for (const auto& b : v.definition->backends)
        if (seen.insert({b.address, b.port}).second) v.backends.push_back({b, v.source, "", nullptr});
    for (const auto& r : e.regs) {
        if (!seen.insert({r.address, r.port}).second) continue;  // one backend per address:port
        Backend b;
        b.address = r.address;
        b.port = r.port;
        b.weight = r.weight;
        v.backends.push_back({b, Source::Api, r.id.str(), &r});
    }
    if (e.etcd)
        for (const auto& r : e.etcd->endpoints) {
            if (!seen.insert({r.address, r.port}).second) continue;
            Backend b;
            b.address = r.address;
            b.port = r.port;
            b.weight = r.weight;
            b.remote = true;
            v.backends.push_back({b, Source::Etcd, r.id, nullptr, r.host});
        }
    return v;
}

std::optional<Service> Registry::desired(const Name& n, bool* fail_open) const {
    if (fail_open) *fail_open = false;
    auto v = view(n);
    if (!v) return std::nullopt;
    Service s = *v->definition;
    s.backends.clear();
    s.backends.reserve(v->backends.size());
    for (const auto& b : v->backends) s.backends.push_back(b.backend);
    const auto& sick = entries_.find(n)->second.unhealthy();
    if (sick.empty()) return s;
    auto is_sick = [&](const Backend& b) { return std::binary_search(sick.begin(), sick.end(), Endpoint{b.address, b.port}); };
    size_t usable = 0, usable_sick = 0;
    for (const auto& b : s.backends)
        if (b.state == BackendState::Active && b.weight > 0) {
            ++usable;
            usable_sick += is_sick(b);
        }
    if (usable_sick > 0 && usable_sick == usable) {
        if (fail_open) *fail_open = true;
        return s;
    }
    for (auto& b : s.backends)
        if (b.state == BackendState::Active && is_sick(b)) b.state = BackendState::Quarantined;
    return s;
}

bool Registry::set_backend_health(const Name& n, const IpAddress& address, uint16_t port, bool healthy) {
    auto it = entries_.find(n);
    if (it == entries_.end()) return false;
    Endpoint ep{address, port};
    const auto& seen = it->second.unhealthy();
    auto at = std::lower_bound(seen.begin(), seen.end(), ep);
    const bool was_sick = at != seen.end() && *at == ep;
    if (was_sick == !healthy) return false;
    auto& sick = it->second.rare_part().unhealthy;
    auto pos = sick.begin() + (at - seen.begin());
    if (healthy) sick.erase(pos);
    else sick.insert(pos, ep);
    it->second.trim();
    // Dirty only when the service has that backend: a flag for one that
    // left changes nothing in the kernel.
    auto v = view(n);
    if (!v) return false;
    for (const auto& b : v->backends)
        if (b.backend.address == address && b.backend.port == port) {
            touch(n);
            return true;
        }
    return false;
}

std::vector<Registry::Name> Registry::names() const {
    std::vector<Name> out;
    for (const auto& [n, e] : entries_)
        if (e.definition()) out.push_back(n);
    return out;
}

const std::vector<Registration>* Registry::registrations(const Name& n) const {
    auto it = entries_.find(n);
    return it == entries_.end() ? nullptr : &it->second.regs;
}

const Registration* Registry::find_registration(const Name& n, const std::string& id) const {
    const auto* regs = registrations(n);
    if (!regs) return nullptr;
    auto it = std::lower_bound(regs->begin(), regs->end(), id, by_id);
    return it != regs->end() && it->id == id ? &*it : nullptr;
}

// ---- etcd

namespace {
auto by_host_id = [](const RemoteEndpoint& a, const RemoteEndpoint& b) {
    return std::tie(a.host, a.id) < std::tie(b.host, b.id);
};
}  // namespace

uint32_t Registry::host_id(std::string_view host) {
    if (auto it = host_ids_.find(host); it != host_ids_.end()) return it->second;
    auto id = static_cast<uint32_t>(hosts_.size());
    hosts_.emplace_back(host);
    host_ids_.emplace(std::string(host), id);
    return id;
}

std::optional<RegistryError> Registry::etcd_refusal(const Service& s, const Name& n) const {
    if (s.name == kDnsUdpName || s.name == kDnsTcpName)
        return RegistryError{RegistryErrc::Conflict, "name: '" + s.name + "' is the DNS responder's own service"};
    if (auto clash = key_clash(s, n)) return RegistryError{RegistryErrc::Conflict, *clash};
    return std::nullopt;
}

std::optional<RegistryError> Registry::check_shared_definition(const Service& s) const {
    Name n{s.ns, s.name};
    auto it = entries_.find(n);
    if (it != entries_.end() && it->second.file)
        return RegistryError{RegistryErrc::Conflict,
                             "service " + to_string(n) + " is defined by this host's config file: change it there"};
    return etcd_refusal(s, n);
}

bool Registry::set_etcd_def(Entry& e, std::unique_ptr<const Service> def, int64_t revision) {
    if (!def) {
        if (!e.etcd || !e.etcd->def) return false;
        e.etcd->def.reset();
        e.etcd->revision = 0;
        if (e.etcd->empty()) e.etcd.reset();
        return true;
    }
    if (!e.etcd) e.etcd = std::make_unique<EtcdPart>();
    e.etcd->revision = revision;
    if (e.etcd->def && *e.etcd->def == *def) return false;
    e.etcd->def = std::move(def);
    return true;
}

bool Registry::set_remote(Entry& e, std::vector<RemoteEndpoint> eps) {
    if (eps.empty()) {
        if (!e.etcd || e.etcd->endpoints.empty()) return false;
        remote_count_ -= e.etcd->endpoints.size();
        e.etcd->endpoints = {};  // frees the buffer too
        if (e.etcd->empty()) e.etcd.reset();
        return true;
    }
    if (!e.etcd) e.etcd = std::make_unique<EtcdPart>();
    if (e.etcd->endpoints == eps) return false;
    remote_count_ = remote_count_ - e.etcd->endpoints.size() + eps.size();
    e.etcd->endpoints = std::move(eps);
    return true;
}

RegResult<bool> Registry::put_etcd_service(Service s, int64_t revision) {
    Name n{s.ns, s.name};
    if (auto refused = etcd_refusal(s, n)) return *refused;
    Entry& e = entries_[n];
    if (!set_etcd_def(e, std::make_unique<const Service>(std::move(s)), revision)) return false;
    touch(n);
    return true;
}

bool Registry::delete_etcd_service(const Name& n) {
    auto it = entries_.find(n);
    if (it == entries_.end() || !set_etcd_def(it->second, nullptr, 0)) return false;
    touch(n);
    drop_if_empty(it);
    return true;
}

int64_t Registry::etcd_revision(const Name& n) const {
    auto it = entries_.find(n);
    return it != entries_.end() && it->second.etcd_def() ? it->second.etcd->revision : 0;
}

bool Registry::put_remote_endpoint(const Name& n, RemoteEndpoint r) {
    Entry& e = entries_[n];
    if (!e.etcd) e.etcd = std::make_unique<EtcdPart>();
    auto& eps = e.etcd->endpoints;
    auto pos = std::lower_bound(eps.begin(), eps.end(), r, by_host_id);
    if (pos != eps.end() && pos->host == r.host && pos->id == r.id) {
        if (*pos == r) return false;
        *pos = std::move(r);
    } else {
        eps.insert(pos, std::move(r));
        ++remote_count_;
    }
    touch(n);
    return true;
}

bool Registry::delete_remote_endpoint(const Name& n, uint32_t host, std::string_view id) {
    auto it = entries_.find(n);
    if (it == entries_.end() || !it->second.etcd) return false;
    auto& eps = it->second.etcd->endpoints;
    auto pos = std::lower_bound(eps.begin(), eps.end(), std::make_pair(host, id), [](const RemoteEndpoint& r, const auto& k) {
        return std::make_pair(r.host, std::string_view(r.id)) < k;
    });
    if (pos == eps.end() || pos->host != host || pos->id != id) return false;
    eps.erase(pos);
    --remote_count_;
    if (it->second.etcd->empty()) it->second.etcd.reset();
    touch(n);
    drop_if_empty(it);
    return true;
}

void Registry::begin_etcd_list() {
    ++list_epoch_;
    list_refused_.clear();
}

void Registry::list_etcd_service(Service s, int64_t revision) {
    Name n{s.ns, s.name};
    if (etcd_refusal(s, n)) {
        list_refused_.emplace_back(std::move(s), revision);
        return;
    }
    Entry& e = entries_[n];
    if (set_etcd_def(e, std::make_unique<const Service>(std::move(s)), revision)) touch(n);
    e.etcd->def_listed = list_epoch_;
}

void Registry::list_remote_endpoints(const Name& n, std::vector<RemoteEndpoint> eps) {
    std::sort(eps.begin(), eps.end(), by_host_id);
    eps.erase(std::unique(eps.begin(), eps.end(), [](const auto& a, const auto& b) { return a.host == b.host && a.id == b.id; }),
              eps.end());
    Entry& e = entries_[n];
    // A service's endpoints split over two pages come as two calls: the
    // second adds to the first.
    if (e.etcd && e.etcd->eps_listed == list_epoch_ && !e.etcd->endpoints.empty()) {
        std::vector<RemoteEndpoint> all = e.etcd->endpoints;
        all.insert(all.end(), std::make_move_iterator(eps.begin()), std::make_move_iterator(eps.end()));
        std::sort(all.begin(), all.end(), by_host_id);
        eps = std::move(all);
    }
    if (set_remote(e, std::move(eps))) touch(n);
    if (e.etcd) e.etcd->eps_listed = list_epoch_;
    else if (e.empty()) entries_.erase(n);
}

std::vector<std::string> Registry::end_etcd_list() {
    // What the list no longer holds goes (it may free a VIP a refused
    // definition wants), then the refused ones once more.
    for (auto it = entries_.begin(); it != entries_.end();) {
        Entry& e = it->second;
        bool changed = false;
        if (e.etcd && e.etcd->def && e.etcd->def_listed != list_epoch_) changed |= set_etcd_def(e, nullptr, 0);
        if (e.etcd && !e.etcd->endpoints.empty() && e.etcd->eps_listed != list_epoch_) changed |= set_remote(e, {});
        if (changed) touch(it->first);
        if (e.empty()) {
            it = entries_.erase(it);
            continue;
        }
        ++it;
    }
    std::vector<std::string> problems;
    auto refused = std::move(list_refused_);
    list_refused_.clear();
    for (auto& [s, rev] : refused) {
        Name n{s.ns, s.name};
        if (auto why = etcd_refusal(s, n)) {
            problems.push_back("service " + to_string(n) + ": " + why->message);
            continue;
        }
        if (set_etcd_def(entries_[n], std::make_unique<const Service>(std::move(s)), rev)) touch(n);
    }
    return problems;
}

std::vector<std::string> Registry::set_etcd_state(EtcdSnapshot snap) {
    begin_etcd_list();
    for (auto& [s, rev] : snap.services) list_etcd_service(std::move(s), rev);
    for (auto& [n, eps] : snap.endpoints) list_remote_endpoints(n, std::move(eps));
    return end_etcd_list();
}

std::vector<Registry::Name> Registry::take_dirty() {
    std::vector<CompactName> dirty;
    dirty.swap(dirty_);  // its buffer goes too
    std::sort(dirty.begin(), dirty.end());
    dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
    std::vector<Name> out;
    out.reserve(dirty.size());
    for (const auto& n : dirty) out.push_back(n);
    return out;
}

}  // namespace hl
