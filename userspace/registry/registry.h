// The registry: one desired state merged from every source (DESIGN.md
// "Desired state from several sources"), keyed by {namespace, service}.
//
// Sources: the config file (services and their static backends), the
// control API (services it defines, and endpoints tasks register, with
// TTLs), the DNS responder's own service (dns.vip:53 in every namespace),
// etcd (services defined through any host's API, and the endpoints other
// hosts registered), and later health. A change from any source marks only the
// services it touches dirty; the daemon hands those, and only those, to the
// reconciler. The registry never touches the kernel.
//
// Merge rules: a service is defined by one source (two that disagree is an
// error naming both; a definition in etcd that this host's file defines
// otherwise yields to the file here, shown as a conflict); its backends are
// the union of its sources' backends, one per address:port; a registration
// with a TTL leaves when it runs out. Health (health/) overlays state: an
// unhealthy backend that would take new connects is quarantined, unless that
// would leave the service none (fail open).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <variant>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/small_string.h"
#include "model/compact_name.h"
#include "model/service.h"

namespace hl {

using Clock = std::chrono::steady_clock;

enum class Source : uint8_t { File, Api, Dns, Etcd };
const char* to_string(Source s);

// A TTL in seconds or none, in 4 bytes: 0 stands for none (the API and
// the journal's reader refuse a TTL of 0). Reads as std::optional does.
class TtlSeconds {
public:
    TtlSeconds() = default;
    TtlSeconds(uint32_t s) : s_(s) {}                           // NOLINT: implicit, as optional's
    TtlSeconds(std::optional<uint32_t> s) : s_(s.value_or(0)) {}  // NOLINT
    explicit operator bool() const { return s_ != 0; }
    bool has_value() const { return s_ != 0; }
    uint32_t operator*() const { return s_; }
    bool operator==(const TtlSeconds&) const = default;

private:
    uint32_t s_ = 0;
};

// One endpoint a task registered over the control API. One per
// registration (262,144 at scale): 48 bytes.
struct Registration {
    SmallString id;
    IpAddress address;
    uint16_t port = 0;
    uint16_t weight = 1;
    TtlSeconds ttl_s;             // none: stays until deregistered
    Clock::time_point expires{};  // when ttl_s is set
};
static_assert(sizeof(Registration) <= 48, "Registration: one per registered endpoint; keep it small");

// One endpoint another host registered, as etcd holds it (under that
// host's lease). The host is an index into the registry's host names: a
// cluster has few hosts and many endpoints (56 bytes each, in this order).
struct RemoteEndpoint {
    std::string id;
    IpAddress address;
    uint32_t host = 0;
    uint16_t port = 0;
    uint16_t weight = 1;
    bool operator==(const RemoteEndpoint&) const = default;
};
static_assert(sizeof(RemoteEndpoint) <= 56, "RemoteEndpoint: one per other host's endpoint; keep it small");

// Why a registry call was refused, so the API can pick its status code.
enum class RegistryErrc : uint8_t { Invalid, NotFound, Conflict };
struct RegistryError {
    RegistryErrc code;
    std::string message;
};
template <class T>
using RegResult = std::variant<T, RegistryError>;

class Registry {
public:
    using Name = std::pair<std::string, std::string>;  // namespace, name

    // ---- sources
    // The config file's services, validated already. Refused whole (nothing
    // changes) when one of them is defined differently by another source.
    Status set_file_services(std::vector<Service> services);
    // Define or replace a service through the API. Returns whether it is new.
    RegResult<bool> put_api_service(Service s);
    RegResult<bool> delete_api_service(const Name& name);
    // Register, or register again (refreshes the TTL). Returns whether new.
    // `undefined_ok`: a service not defined (yet) keeps the registration
    // until its definition comes (a restart with etcd: the journal is read
    // before etcd's definitions arrive); else that is NotFound.
    RegResult<bool> register_endpoint(const Name& name, Registration r, Clock::time_point now,
                                      bool undefined_ok = false);
    RegResult<bool> heartbeat(const Name& name, const std::string& id, Clock::time_point now);
    RegResult<bool> deregister(const Name& name, const std::string& id);
    // Registrations whose TTL ran out leave; returns them (for the log and
    // the journal). Their services are marked dirty.
    std::vector<std::pair<Name, std::string>> expire(Clock::time_point now);
    std::optional<Clock::time_point> next_expiry() const;
    // The DNS responder's service (dns.vip:53, udp and tcp, backends the
    // responder's listen addresses) in each of these namespaces; nullopt vip
    // removes them everywhere.
    void set_dns(std::optional<IpAddress> vip, std::vector<Backend> listen, const std::set<std::string>& namespaces);
    // Namespaces that hold a service of some other source.
    std::set<std::string> namespaces() const;
    // Health: the one flag per backend that active checks and outlier
    // detection produce (health/). Kept beside the service's definitions, so
    // it outlives a redefinition or a reload; gone with the service. Returns
    // whether the service's desired state changed (it is then dirty): not
    // when the service has no such backend (any more).
    bool set_backend_health(const Name& name, const IpAddress& address, uint16_t port, bool healthy);

    // ---- etcd (cluster/): what the cluster shares, as this host last saw it
    // A host name's index (interned: kept for the registry's life).
    uint32_t host_id(std::string_view host);
    const std::string& host_name(uint32_t id) const { return hosts_[id]; }
    // A definition read from etcd at mod_revision `revision`. Refused (and
    // nothing changes) when its VIP is another service's or its name the
    // DNS responder's. Returns whether the desired state changed.
    RegResult<bool> put_etcd_service(Service s, int64_t revision);
    bool delete_etcd_service(const Name& name);
    // Whether a definition made through this host's API may go to etcd:
    // not a service of the config file here, not the DNS responder's name,
    // no VIP of another service.
    std::optional<RegistryError> check_shared_definition(const Service& s) const;
    // The mod_revision of the service's definition in etcd; 0 when etcd does
    // not define it (as far as this host has seen).
    int64_t etcd_revision(const Name& name) const;
    bool put_remote_endpoint(const Name& name, RemoteEndpoint e);
    bool delete_remote_endpoint(const Name& name, uint32_t host, std::string_view id);
    // Everything etcd holds, from one list (pages of keys at one revision),
    // applied as it comes so that no copy of it all is held: begin, then
    // each definition and each service's whole set of other hosts'
    // endpoints, then end, which removes what the list did not hold and
    // nothing else. Only services whose state changed are dirty. A
    // definition refused as put_etcd_service refuses it is tried once more
    // at the end (the one in its way may have left); end returns the ones
    // still refused.
    void begin_etcd_list();
    void list_etcd_service(Service s, int64_t revision);
    void list_remote_endpoints(const Name& name, std::vector<RemoteEndpoint> eps);
    std::vector<std::string> end_etcd_list();
    // The same from a whole snapshot (tests).
    struct EtcdSnapshot {
        std::vector<std::pair<Service, int64_t>> services;  // with their mod_revision
        std::vector<std::pair<Name, std::vector<RemoteEndpoint>>> endpoints;  // by service
    };
    std::vector<std::string> set_etcd_state(EtcdSnapshot snap);
    size_t remote_endpoint_count() const { return remote_count_; }
    // The etcd part as it stands: f(name, definition or nullptr, its
    // mod_revision, other hosts' endpoints), in name order (the cache).
    template <class F>
    void for_each_etcd(F&& f) const {
        for (const auto& [n, e] : entries_)
            if (e.etcd) f(n, e.etcd->def.get(), e.etcd->revision, e.etcd->endpoints);
    }
    // This host's registrations from (name, id) on, in order, until f
    // returns false (the publisher's walk, a batch at a time).
    template <class F>
    void walk_registrations(const Name& from, const std::string& from_id, F&& f) const {
        for (auto it = entries_.lower_bound(from); it != entries_.end(); ++it) {
            auto r = it->second.regs.begin();
            if (it->first == from)
                r = std::lower_bound(r, it->second.regs.end(), from_id,
                                     [](const Registration& x, const std::string& id) { return x.id < id; });
            for (; r != it->second.regs.end(); ++r)
                if (!f(it->first, *r)) return;
        }
    }

    // ---- views
    bool exists(const Name& name) const;
    // The merged service the kernel should hold; nullopt when none. An
    // unhealthy backend that would take new connects (active, weight > 0)
    // is quarantined, unless every such backend is unhealthy: then hopless
    // routes to all of them rather than refuse every connect (fail open, as
    // Envoy's panic threshold), and *fail_open says so.
    std::optional<Service> desired(const Name& name, bool* fail_open = nullptr) const;
    static constexpr uint32_t kNoHost = ~0u;
    struct BackendView {
        Backend backend;
        Source source;
        std::string id;  // registrations (this host's and other hosts')
        const Registration* reg = nullptr;
        uint32_t host = kNoHost;  // Source::Etcd: the host that registered it
    };
    struct ServiceView {
        Name name;
        Source source;
        const Service* definition;
        std::vector<BackendView> backends;
        // etcd defines the service otherwise than the source in force here
        // (this host's file): the file wins on this host.
        bool etcd_conflict = false;
    };
    std::optional<ServiceView> view(const Name& name) const;
    std::vector<Name> names() const;
    const std::vector<Registration>* registrations(const Name& name) const;
    const Registration* find_registration(const Name& name, const std::string& id) const;
    size_t registration_count() const { return registration_count_; }

    // Names changed since the last call, each once.
    std::vector<Name> take_dirty();

    // ---- the API's own state, which outlives the daemon (journal.h)
    // Every API-defined service and every registration, for a snapshot.
    template <class F>
    void for_each_api_state(F&& f) const {
        for (const auto& [name, e] : entries_) {
            if (e.api()) f(*e.api());
            for (const auto& r : e.regs) f(name, r);
        }
    }

    static constexpr const char* kDnsUdpName = "hopless-dns";
    static constexpr const char* kDnsTcpName = "hopless-dns-tcp";

private:
    // etcd's part of a service, behind one pointer: a host without etcd (or
    // a service etcd does not know) pays 8 bytes for it.
    struct EtcdPart {
        std::unique_ptr<const Service> def;
        int64_t revision = 0;  // def's mod_revision
        std::vector<RemoteEndpoint> endpoints;  // sorted by host, id
        // The list that last held the definition, the endpoints (list_epoch_).
        uint32_t def_listed = 0, eps_listed = 0;
        bool empty() const { return !def && endpoints.empty(); }
    };
    using Endpoint = std::pair<IpAddress, uint16_t>;
    // The parts most services lack (most come from the file), behind one
    // pointer: an entry is one per service (65,536 at scale).
    struct RarePart {
        std::unique_ptr<const Service> api, dns;
        std::vector<Endpoint> unhealthy;  // sorted; not a source: it keeps no entry alive
    };
    struct Entry {
        std::unique_ptr<const Service> file;
        std::unique_ptr<EtcdPart> etcd;
        std::unique_ptr<RarePart> rare;  // null: none of its parts
        std::vector<Registration> regs;  // sorted by id
        const Service* api() const { return rare ? rare->api.get() : nullptr; }
        const Service* dns() const { return rare ? rare->dns.get() : nullptr; }
        const std::vector<Endpoint>& unhealthy() const {
            static const std::vector<Endpoint> none;
            return rare ? rare->unhealthy : none;
        }
        RarePart& rare_part() {
            if (!rare) rare = std::make_unique<RarePart>();
            return *rare;
        }
        // Drops the rare part when it holds nothing.
        void trim() {
            if (rare && !rare->api && !rare->dns && rare->unhealthy.empty()) rare.reset();
        }
        void set_api(std::unique_ptr<const Service> s) {
            rare_part().api = std::move(s);
            trim();
        }
        void set_dns(std::unique_ptr<const Service> s) {
            rare_part().dns = std::move(s);
            trim();
        }
        const Service* etcd_def() const { return etcd ? etcd->def.get() : nullptr; }
        const Service* definition() const {
            return file ? file.get() : api() ? api() : etcd_def() ? etcd_def() : dns();
        }
        Source source() const {
            return file ? Source::File : api() ? Source::Api : etcd_def() ? Source::Etcd : Source::Dns;
        }
        bool empty() const { return !file && !api() && !dns() && !etcd && regs.empty(); }
    };
    void touch(const Name& n) { dirty_.emplace_back(n); }
    using EntryMap = std::map<CompactName, Entry>;  // one per service: the compact key
    void drop_if_empty(EntryMap::iterator it);
    std::optional<std::string> key_clash(const Service& s, const Name& self) const;
    std::optional<RegistryError> etcd_refusal(const Service& s, const Name& n) const;
    // Sets (or with nullptr clears) the entry's etcd definition; whether the
    // desired state changed. Drops an emptied etcd part.
    bool set_etcd_def(Entry& e, std::unique_ptr<const Service> def, int64_t revision);
    bool set_remote(Entry& e, std::vector<RemoteEndpoint> eps);

    EntryMap entries_;
    // The config file's services in name order, as indexes into the file's
    // list when last set (the next reload checks it before sorting anew).
    std::vector<uint32_t> file_order_;
    // Names touched since take_dirty(), repeats and all (it sorts them out).
    // One buffer, not a node per name: a 65,536-service load would leave
    // each node a hole between the entries made with it, pages the heap
    // cannot give back (7 MB of the daemon's resident memory at scale).
    std::vector<CompactName> dirty_;
    size_t registration_count_ = 0;
    size_t ttl_count_ = 0;  // registrations with a ttl: none, and expiry walks nothing
    size_t remote_count_ = 0;
    std::vector<std::string> hosts_;
    std::map<std::string, uint32_t, std::less<>> host_ids_;
    uint32_t list_epoch_ = 0;  // the etcd list in progress (or the last one)
    std::vector<std::pair<Service, int64_t>> list_refused_;  // tried again at its end
};

// "default/web"
std::string to_string(const Registry::Name& n);

}  // namespace hl
