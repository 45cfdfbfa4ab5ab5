// The registry: one desired state merged from every source (DESIGN.md
// "Desired state from several sources"), keyed by {namespace, service}.
//
// Sources: the config file (services and their static backends), the
// control API (services it defines, and endpoints tasks register, with
// TTLs), the DNS responder's own service (dns.vip:53 in every namespace),
// and later etcd and health. A change from any source marks only the
// services it touches dirty; the daemon hands those, and only those, to the
// reconciler. The registry never touches the kernel.
//
// Merge rules: a service is defined by one source (two that disagree is an
// error naming both); its backends are the union of its sources' backends,
// one per address:port; a registration with a TTL leaves when it runs out.
// Health (health/) overlays state: an unhealthy backend that would take new
// connects is quarantined, unless that would leave the service none (fail
// open).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <variant>
#include <string>
#include <vector>

#include "common/error.h"
#include "model/service.h"

namespace hl {

using Clock = std::chrono::steady_clock;

enum class Source : uint8_t { File, Api, Dns };
const char* to_string(Source s);

// One endpoint a task registered over the control API.
struct Registration {
    std::string id;
    IpAddress address;
    uint16_t port = 0;
    uint16_t weight = 1;
    std::optional<uint32_t> ttl_s;  // none: stays until deregistered
    Clock::time_point expires{};    // when ttl_s is set
};

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
    RegResult<bool> register_endpoint(const Name& name, Registration r, Clock::time_point now);
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

    // ---- views
    bool exists(const Name& name) const;
    // The merged service the kernel should hold; nullopt when none. An
    // unhealthy backend that would take new connects (active, weight > 0)
    // is quarantined, unless every such backend is unhealthy: then hopless
    // routes to all of them rather than refuse every connect (fail open, as
    // Envoy's panic threshold), and *fail_open says so.
    std::optional<Service> desired(const Name& name, bool* fail_open = nullptr) const;
    struct BackendView {
        Backend backend;
        Source source;
        std::string id;  // registrations only
        const Registration* reg = nullptr;
    };
    struct ServiceView {
        Name name;
        Source source;
        const Service* definition;
        std::vector<BackendView> backends;
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
            if (e.api) f(*e.api);
            for (const auto& r : e.regs) f(name, r);
        }
    }

    static constexpr const char* kDnsUdpName = "hopless-dns";
    static constexpr const char* kDnsTcpName = "hopless-dns-tcp";

private:
    using Endpoint = std::pair<IpAddress, uint16_t>;
    struct Entry {
        std::unique_ptr<const Service> file, api, dns;
        std::vector<Registration> regs;  // sorted by id
        std::vector<Endpoint> unhealthy;  // sorted; not a source: it keeps no entry alive
        const Service* definition() const {
            return file ? file.get() : api ? api.get() : dns.get();
        }
        Source source() const { return file ? Source::File : api ? Source::Api : Source::Dns; }
        bool empty() const { return !file && !api && !dns && regs.empty(); }
    };
    void touch(const Name& n) { dirty_.insert(n); }
    void drop_if_empty(std::map<Name, Entry>::iterator it);
    std::optional<std::string> key_clash(const Service& s, const Name& self) const;

    std::map<Name, Entry> entries_;
    std::set<Name> dirty_;
    size_t registration_count_ = 0;
    size_t ttl_count_ = 0;  // registrations with a ttl: none, and expiry walks nothing
};

// "default/web"
std::string to_string(const Registry::Name& n);

}  // namespace hl
