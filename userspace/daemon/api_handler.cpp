#include "daemon/api_handler.h"

#include <spdlog/spdlog.h>

#include "bpf/cgroup.h"
#include "daemon/daemon.h"
#include "daemon/health_report.h"
#include "discovery/service_json.h"

namespace hl {

namespace {

using control::Reply;
using json = nlohmann::json;

Reply from(const RegistryError& e) {
    switch (e.code) {
        case RegistryErrc::NotFound: return Reply::error(404, e.message);
        case RegistryErrc::Conflict: return Reply::error(409, e.message);
        case RegistryErrc::Invalid: break;
    }
    return Reply::error(400, e.message);
}

json ttl_left(const Registration& r) {
    if (!r.ttl_s) return nullptr;
    auto left = std::chrono::duration<double>(r.expires - Clock::now()).count();
    return std::max(0.0, std::round(left * 10) / 10);
}

json registration_json(const Registration& r) {
    return {{"id", r.id},
            {"address", r.address.to_string()},
            {"port", r.port},
            {"weight", r.weight},
            {"ttl", r.ttl_s ? json(*r.ttl_s) : json(nullptr)},
            {"ttl_left", ttl_left(r)},
            {"source", "api"}};
}

void journal(Daemon& d, const std::function<Status(Journal&)>& f) {
    if (!d.journal()) return;
    if (auto st = f(*d.journal()); !st) spdlog::warn("journal: {} (the change is in force, but may not outlive a restart)",
                                                     st.error().what());
    if (auto st = d.journal()->maybe_compact(d.registry()); !st) spdlog::warn("journal: {}", st.error().what());
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::round(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count() * 10) / 10;
}

std::string away_text(const cluster::ClusterApi& c) {
    auto since = c.away_since();
    return "etcd is unreachable" +
           (since ? " (for " + fmt::format("{:.1f}", seconds_since(*since)) + " s)" : std::string()) +
           ": a service definition is refused while etcd is away (a compare-and-swap cannot be decided "
           "offline, and a definition kept on one host would make the hosts differ); registrations are "
           "accepted, and published when etcd is back";
}

std::string conflict_text(const Registry::Name& n, int64_t seen, const std::optional<etcd::KeyValue>& now) {
    std::string s = "service " + to_string(n);
    if (!now) return s + " was deleted in etcd since this host saw it (revision " + std::to_string(seen) +
                     "): not written; define it again to create it";
    if (!seen)
        return s + " was defined in etcd meanwhile, by another host (revision " + std::to_string(now->mod_revision) +
               "): not written; read it (GET /v1/services) and retry to replace it";
    return s + " changed in etcd since this host saw it (revision " + std::to_string(seen) + ", now " +
           std::to_string(now->mod_revision) + "): not written; read it again (GET /v1/services) and retry";
}

}  // namespace

Reply ApiHandler::health() {
    if (!d_.ready()) return Reply::error(503, "starting: the sources are not applied yet");
    json body{{"status", "ok"},
              {"services", d_.reconciler().services().size()},
              {"registrations", d_.registry().registration_count()}};
    if (const auto* c = d_.cluster()) {
        json e{{"host", c->host()},
               {"up", c->up()},
               {"revision", c->revision()},
               {"lease", fmt::format("{:x}", c->lease())},
               {"unpublished", c->backlog()},
               {"hosts", c->hosts_seen()},
               {"remote_endpoints", d_.registry().remote_endpoint_count()}};
        if (auto since = c->away_since()) e["away_seconds"] = seconds_since(*since);
        if (c->name_taken()) e["host_name_taken"] = true;
        body["etcd"] = std::move(e);
    }
    return Reply::ok(std::move(body));
}

Reply ApiHandler::list_services() {
    json out = json::array();
    for (const auto& name : d_.registry().names()) {
        auto v = d_.registry().view(name);
        if (!v) continue;
        const auto* rec = d_.reconciler().find(name);
        json s = service_to_json(*v->definition);
        s.erase("backends");
        s["source"] = to_string(v->source);
        if (v->etcd_conflict)
            s["conflict"] = "etcd defines this service otherwise; this host's " + std::string(to_string(v->source)) +
                            " definition is in force here";
        if (rec) {
            s["vip"] = rec->vip().to_string();
            s["id"] = rec->id();
        }
        json bs = json::array();
        const health::ServiceHealth* h = d_.health().tracker().find(name);
        for (const auto& b : v->backends) {
            json j{{"id", b.reg ? b.reg->id : b.backend.endpoint()},
                   {"address", b.backend.address.to_string()},
                   {"port", b.backend.port},
                   {"weight", b.backend.weight},
                   {"state", to_string(b.backend.state)},
                   {"source", to_string(b.source)},
                   {"ttl", b.reg && b.reg->ttl_s ? json(*b.reg->ttl_s) : json(nullptr)},
                   {"ttl_left", b.reg ? ttl_left(*b.reg) : json(nullptr)}};
            // Another host's endpoint: "etcd:<host>"; this host's own
            // registrations name this host when there is a cluster.
            if (b.host != Registry::kNoHost) {
                const std::string& h = d_.registry().host_name(b.host);
                j["source"] = "etcd:" + h;
                j["host"] = h;
            } else if (b.reg && d_.cluster()) {
                j["host"] = d_.cluster()->host();
            }
            j["local"] = !b.backend.remote;
            // The health flag (checks passed, not ejected); a service without
            // health_check and outlier_detection has only healthy backends.
            const health::BackendHealth* bh = nullptr;
            if (h)
                if (auto it = h->backends.find({b.backend.address, b.backend.port}); it != h->backends.end())
                    bh = &it->second;
            j["healthy"] = !bh || bh->healthy();
            bs.push_back(std::move(j));
        }
        s["backends"] = std::move(bs);
        out.push_back(std::move(s));
    }
    return Reply::ok({{"services", std::move(out)}});
}

void ApiHandler::put_service(const Service& service, control::Done done) {
    if (auto* c = d_.cluster()) return put_shared_service(*c, service, std::move(done));
    done(put_local_service(service));
}

void ApiHandler::delete_service(const std::string& ns, const std::string& name, control::Done done) {
    Registry::Name n{ns, name};
    auto* c = d_.cluster();
    const int64_t seen = c ? d_.registry().etcd_revision(n) : 0;
    auto v = d_.registry().view(n);
    // A service etcd defines (and this host's file does not): deleted there.
    if (c && seen && v && v->source == Source::Etcd) return delete_shared_service(*c, n, seen, std::move(done));
    done(delete_local_service(ns, name));
}

void ApiHandler::forget_local_definition(const Registry::Name& n) {
    auto v = d_.registry().view(n);
    if (!v || v->source != Source::Api) return;
    (void)d_.registry().delete_api_service(n);
    journal(d_, [&](Journal& j) { return j.delete_service(n); });
}

void ApiHandler::put_shared_service(cluster::ClusterApi& c, const Service& service, control::Done done) {
    Registry::Name n{service.ns, service.name};
    if (auto e = d_.registry().check_shared_definition(service)) return done(from(*e));
    if (!c.up()) return done(Reply::error(503, away_text(c)));
    const int64_t seen = d_.registry().etcd_revision(n);
    c.put_service(service, seen, [this, service, seen, done = std::move(done)](Result<etcd::CasResult> r) {
        Registry::Name n{service.ns, service.name};
        if (!r) return done(Reply::error(503, "service " + to_string(n) + ": not written: " + r.error().what()));
        if (!r->succeeded) return done(Reply::error(409, conflict_text(n, seen, r->current)));
        // In force here at once. The watch brings this revision again (a
        // no-op), or one after it: then it is in the registry already.
        auto* c = d_.cluster();
        if (c && r->revision > c->revision()) {
            auto put = d_.registry().put_etcd_service(service, r->revision);
            if (auto* e = std::get_if<RegistryError>(&put))
                spdlog::warn("api: service {} written to etcd, not applied here: {}", to_string(n), e->message);
        }
        forget_local_definition(n);
        json body{{"namespace", n.first}, {"name", n.second}, {"created", seen == 0}, {"revision", r->revision}};
        if (auto st = d_.apply_dirty("api: service (etcd)"); !st)
            return done(Reply::error(507, "service " + to_string(n) + ": written to etcd (revision " +
                                              std::to_string(r->revision) + ") but not applied here: " +
                                              st.error().what()));
        if (const auto* rec = d_.reconciler().find(n)) body["vip"] = rec->vip().to_string();
        spdlog::info("api: service {} {} in etcd (revision {})", to_string(n), seen ? "replaced" : "defined",
                     r->revision);
        done(Reply::ok(std::move(body)));
    });
}

void ApiHandler::delete_shared_service(cluster::ClusterApi& c, const Registry::Name& n, int64_t seen,
                                       control::Done done) {
    if (!c.up()) return done(Reply::error(503, away_text(c)));
    c.delete_service(n, seen, [this, n, seen, done = std::move(done)](Result<etcd::CasResult> r) {
        if (!r) return done(Reply::error(503, "service " + to_string(n) + ": not deleted: " + r.error().what()));
        if (!r->succeeded) return done(Reply::error(409, conflict_text(n, seen, r->current)));
        auto* c = d_.cluster();
        if (c && r->revision > c->revision()) d_.registry().delete_etcd_service(n);
        if (auto st = d_.apply_dirty("api: delete service (etcd)"); !st)
            return done(Reply::error(500, "service " + to_string(n) + ": deleted from etcd but not here: " +
                                              st.error().what()));
        spdlog::info("api: service {} deleted from etcd (revision {})", to_string(n), r->revision);
        done(Reply::ok({{"namespace", n.first}, {"name", n.second}, {"deleted", true}}));
    });
}

Reply ApiHandler::put_local_service(const Service& service) {
    Registry::Name n{service.ns, service.name};
    std::optional<Service> before;
    if (auto v = d_.registry().view(n); v && v->source == Source::Api) before = *v->definition;
    auto r = d_.registry().put_api_service(service);
    if (auto* e = std::get_if<RegistryError>(&r)) return from(*e);
    if (auto st = d_.apply_dirty("api: service"); !st) {
        // Undo in the registry and put the kernel back as it was.
        if (before) (void)d_.registry().put_api_service(*before);
        else (void)d_.registry().delete_api_service(n);
        (void)d_.apply_dirty("api: undo");
        return Reply::error(507, "service " + to_string(n) + ": " + st.error().what());
    }
    journal(d_, [&](Journal& j) { return j.put_service(service); });
    json body{{"namespace", n.first}, {"name", n.second}, {"created", std::get<bool>(r)}};
    if (const auto* rec = d_.reconciler().find(n)) body["vip"] = rec->vip().to_string();
    spdlog::info("api: service {} {}", to_string(n), std::get<bool>(r) ? "defined" : "replaced");
    return Reply::ok(std::move(body));
}

Reply ApiHandler::delete_local_service(const std::string& ns, const std::string& name) {
    Registry::Name n{ns, name};
    auto v = d_.registry().view(n);
    std::optional<Service> before;
    if (v && v->source == Source::Api) before = *v->definition;
    auto r = d_.registry().delete_api_service(n);
    if (auto* e = std::get_if<RegistryError>(&r)) return from(*e);
    if (auto st = d_.apply_dirty("api: delete service"); !st) {
        if (before) (void)d_.registry().put_api_service(*before);
        (void)d_.apply_dirty("api: undo");
        return Reply::error(500, "service " + to_string(n) + ": " + st.error().what());
    }
    journal(d_, [&](Journal& j) { return j.delete_service(n); });
    spdlog::info("api: service {} deleted", to_string(n));
    return Reply::ok({{"namespace", ns}, {"name", name}, {"deleted", true}});
}

Reply ApiHandler::list_endpoints(const std::string& ns, const std::string& name) {
    Registry::Name n{ns, name};
    if (!d_.registry().exists(n)) return Reply::error(404, "service " + to_string(n) + " does not exist");
    json out = json::array();
    const auto* c = d_.cluster();
    if (const auto* regs = d_.registry().registrations(n))
        for (const auto& r : *regs) {
            out.push_back(registration_json(r));
            if (c) {
                out.back()["host"] = c->host();
                out.back()["local"] = true;
            }
        }
    // Other hosts' registrations, as etcd holds them (no TTL: their hosts' leases stand for them).
    if (auto v = d_.registry().view(n))
        for (const auto& b : v->backends) {
            if (b.host == Registry::kNoHost) continue;
            const std::string& h = d_.registry().host_name(b.host);
            out.push_back({{"id", b.id},
                           {"address", b.backend.address.to_string()},
                           {"port", b.backend.port},
                           {"weight", b.backend.weight},
                           {"ttl", nullptr},
                           {"ttl_left", nullptr},
                           {"source", "etcd:" + h},
                           {"host", h},
                           {"local", false}});
        }
    return Reply::ok({{"endpoints", std::move(out)}});
}

Reply ApiHandler::put_endpoint(const std::string& ns, const std::string& name, const std::string& id,
                               const control::EndpointSpec& spec) {
    Registry::Name n{ns, name};
    Registration reg{id, spec.address, spec.port, spec.weight, spec.ttl_s, {}};
    std::optional<Registration> before;
    if (const auto* r = d_.registry().find_registration(n, id)) before = *r;
    auto r = d_.registry().register_endpoint(n, reg, Clock::now());
    if (auto* e = std::get_if<RegistryError>(&r)) return from(*e);
    if (auto st = d_.apply_dirty("api: register"); !st) {
        if (before) (void)d_.registry().register_endpoint(n, *before, Clock::now());
        else (void)d_.registry().deregister(n, id);
        (void)d_.apply_dirty("api: undo");
        return Reply::error(507, "endpoint '" + id + "' of service " + to_string(n) + ": " + st.error().what());
    }
    // A refresh with the same fields is a heartbeat: not journaled again.
    if (!before || before->weight != reg.weight || before->ttl_s != reg.ttl_s)
        journal(d_, [&](Journal& j) { return j.put_endpoint(n, reg); });
    if (!before || before->weight != reg.weight) d_.registration_changed(n, id);
    const bool created = std::get<bool>(r);
    if (created) spdlog::info("api: endpoint '{}' {} registered for {}", id, spec.address.with_port(spec.port), to_string(n));
    return Reply::ok({{"id", id}, {"created", created}});
}

Reply ApiHandler::heartbeat(const std::string& ns, const std::string& name, const std::string& id) {
    Registry::Name n{ns, name};
    auto r = d_.registry().heartbeat(n, id, Clock::now());
    if (auto* e = std::get_if<RegistryError>(&r)) return from(*e);
    json body{{"id", id}};
    if (const auto* reg = d_.registry().find_registration(n, id)) {
        body["ttl"] = reg->ttl_s ? json(*reg->ttl_s) : json(nullptr);
        body["ttl_left"] = ttl_left(*reg);
    }
    return Reply::ok(std::move(body));
}

Reply ApiHandler::delete_endpoint(const std::string& ns, const std::string& name, const std::string& id) {
    Registry::Name n{ns, name};
    std::optional<Registration> before;
    if (const auto* r = d_.registry().find_registration(n, id)) before = *r;
    auto r = d_.registry().deregister(n, id);
    if (auto* e = std::get_if<RegistryError>(&r)) return from(*e);
    if (auto st = d_.apply_dirty("api: deregister"); !st) {
        if (before) (void)d_.registry().register_endpoint(n, *before, Clock::now());
        (void)d_.apply_dirty("api: undo");
        return Reply::error(500, "endpoint '" + id + "' of service " + to_string(n) + ": " + st.error().what());
    }
    journal(d_, [&](Journal& j) { return j.delete_endpoint(n, id); });
    d_.registration_changed(n, id);
    spdlog::info("api: endpoint '{}' of {} deregistered", id, to_string(n));
    return Reply::ok({{"id", id}, {"deleted", true}});
}

Reply ApiHandler::backend_health() {
    json out = json::array();
    for (const auto& [name, rec] : d_.reconciler().services())
        out.push_back(service_health_json(d_.reconciler(), name, rec, d_.health().tracker().find(name), d_.backend_live()));
    return Reply::ok({{"services", std::move(out)}});
}

Reply ApiHandler::service_health(const std::string& ns, const std::string& name) {
    Registry::Name n{ns, name};
    const auto* rec = d_.reconciler().find(n);
    if (!rec) return Reply::error(404, "service " + to_string(n) + " does not exist");
    return Reply::ok(service_health_json(d_.reconciler(), n, *rec, d_.health().tracker().find(n), d_.backend_live()));
}

namespace {
Result<std::string> cgroup_path(const control::CgroupSpec& spec) {
    if (spec.pid) return cgroup_of_pid(*spec.pid);
    auto p = resolve_cgroup(*spec.cgroup);
    if (!p) return Error{"cgroup: '" + *spec.cgroup + "' " + p.error().what(), 0};
    return p;
}
}  // namespace

Reply ApiHandler::attach_cgroup(const control::CgroupSpec& spec) {
    auto path = cgroup_path(spec);
    if (!path) return Reply::error(400, path.error().what());
    auto r = d_.reconciler().attach_cgroup(*path, spec.ns);
    if (!r) return Reply::error(500, "cgroup: " + *path + ": " + r.error().what());
    d_.after_cgroup_change();
    spdlog::info("api: cgroup {} attached (namespace {})", *r, spec.ns);
    return Reply::ok({{"cgroup", *r}, {"namespace", spec.ns}, {"attached", true}});
}

Reply ApiHandler::detach_cgroup(const control::CgroupSpec& spec) {
    // A path is handed on as given: the cgroup may be gone already (runc
    // removes a container's before its poststop hook), and the reconciler
    // knows it by the path it was attached with.
    auto path = spec.pid ? cgroup_of_pid(*spec.pid) : Result<std::string>(*spec.cgroup);
    if (!path) return Reply::error(400, path.error().what());
    auto r = d_.reconciler().detach_cgroup(*path);
    if (!r) return Reply::error(404, "cgroup: " + r.error().what());
    d_.after_cgroup_change();
    spdlog::info("api: cgroup {} detached", *r);
    return Reply::ok({{"cgroup", *r}, {"detached", true}});
}

}  // namespace hl
