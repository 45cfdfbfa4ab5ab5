// Shared by the DNS unit tests: a Directory of services set by the test, and
// packets built and read with ldns.
#pragma once

#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "dns/directory.h"
#include "dns/ldns_handles.h"

namespace hl::dns::test {

inline std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

// Services by {namespace, name}, compared case-insensitively as the contract
// asks; thread-safe, so a test may add a service while a server answers.
class FakeDirectory : public Directory {
public:
    void add(const std::string& ns, const std::string& name, const char* vip, uint16_t port,
             Protocol proto = Protocol::Tcp) {
        std::lock_guard lock(mu_);
        services_[{lower(ns), lower(name)}].push_back(DnsService{*IpAddress::parse(vip), port, proto});
    }
    void add_namespace(const std::string& ns) {
        std::lock_guard lock(mu_);
        extra_namespaces_.push_back(lower(ns));
    }
    std::vector<DnsService> find(std::string_view ns, std::string_view name) const override {
        std::lock_guard lock(mu_);
        ++finds_;
        auto it = services_.find({lower(std::string(ns)), lower(std::string(name))});
        return it == services_.end() ? std::vector<DnsService>{} : it->second;
    }
    bool has_namespace(std::string_view ns) const override {
        std::lock_guard lock(mu_);
        std::string n = lower(std::string(ns));
        for (const auto& [key, v] : services_)
            if (key.first == n) return true;
        for (const auto& e : extra_namespaces_)
            if (e == n) return true;
        return false;
    }
    size_t finds() const {
        std::lock_guard lock(mu_);
        return finds_;
    }

private:
    mutable std::mutex mu_;
    mutable size_t finds_ = 0;
    std::map<std::pair<std::string, std::string>, std::vector<DnsService>> services_;
    std::vector<std::string> extra_namespaces_;
};

// A query for `name` and `type` (id 0x1234, RD set), changed by `tweak`.
inline std::vector<uint8_t> make_query(const std::string& name, ldns_rr_type type,
                                       const std::function<void(ldns_pkt*)>& tweak = {},
                                       ldns_rr_class klass = LDNS_RR_CLASS_IN) {
    PktPtr p(ldns_pkt_query_new(ldns_dname_new_frm_str(name.c_str()), type, klass, LDNS_RD));
    ldns_pkt_set_id(p.get(), 0x1234);
    if (tweak) tweak(p.get());
    uint8_t* buf = nullptr;
    size_t n = 0;
    ldns_pkt2wire(&buf, p.get(), &n);
    std::vector<uint8_t> out(buf, buf + n);
    std::free(buf);
    return out;
}

inline PktPtr parse_reply(const std::vector<uint8_t>& wire) {
    ldns_pkt* p = nullptr;
    if (ldns_wire2pkt(&p, wire.data(), wire.size()) != LDNS_STATUS_OK) return nullptr;
    return PktPtr(p);
}

// The records of one section in presentation form, one line each, tabs as spaces.
inline std::vector<std::string> records(const ldns_pkt* p, ldns_pkt_section s) {
    std::vector<std::string> out;
    const ldns_rr_list* l = ldns_pkt_get_section_clone(p, s);
    for (size_t i = 0; i < ldns_rr_list_rr_count(l); ++i) {
        char* text = ldns_rr2str(ldns_rr_list_rr(l, i));
        std::string line(text);
        std::free(text);
        while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
        for (char& c : line)
            if (c == '\t') c = ' ';
        out.push_back(line);
    }
    ldns_rr_list_deep_free(const_cast<ldns_rr_list*>(l));
    return out;
}

}  // namespace hl::dns::test
