#include "daemon/dns_directory.h"

#include <algorithm>
#include <cctype>
#include <arpa/inet.h>

namespace hl {

namespace {

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

dns::DnsService to_dns(const Reconciler::ServiceRec& rec) {
    return {rec.vip(), ntohs(rec.key.port), static_cast<Protocol>(rec.key.proto)};
}

}  // namespace

std::vector<dns::DnsService> DnsDirectory::find(std::string_view ns, std::string_view name) const {
    std::vector<dns::DnsService> out;
    if (const auto* rec = r_.find({std::string(ns), std::string(name)})) out.push_back(to_dns(*rec));
    return out;
}

bool DnsDirectory::has_namespace(std::string_view ns) const {
    for (const auto& [n, id] : r_.namespaces())
        if (iequal(n, ns)) return true;
    return false;
}

}  // namespace hl
