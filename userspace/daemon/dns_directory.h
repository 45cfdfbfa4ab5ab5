// The DNS responder's view of the services: the registry's names, the VIPs
// the reconciler gave them (a VIP from the pool exists only there), at the
// moment of each query.
#pragma once

#include "datapath/reconciler.h"
#include "dns/directory.h"

namespace hl {

class DnsDirectory : public dns::Directory {
public:
    explicit DnsDirectory(const Reconciler& r) : r_(r) {}
    // Names come lowercase from the query, and are looked up as they come:
    // a service whose name has capitals is not found by name (a walk of the
    // namespace for every miss would make each NXDOMAIN, which every search
    // domain of a task's resolver produces, cost a walk of 65,536 services).
    std::vector<dns::DnsService> find(std::string_view ns, std::string_view name) const override;
    bool has_namespace(std::string_view ns) const override;

private:
    const Reconciler& r_;
};

}  // namespace hl
