// ldns for C++: the one header that includes it, and owning handles for its
// C objects, so every packet, record and name is freed on every path.
#pragma once

// ldns/common.h defines the macros bool, true and false unless stdbool.h was
// seen first; in C++ they break the standard library (`false` becomes 0).
#include <stdbool.h>  // NOLINT: defines __bool_true_false_are_defined, and nothing else, in C++

#include <ldns/ldns.h>

#include <memory>
#include <new>

namespace hl::dns {

struct PktFree {
    void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RrFree {
    void operator()(ldns_rr* r) const { ldns_rr_free(r); }
};
struct RdfFree {
    void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};

using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;

// ldns reports a failed allocation with NULL; treat it as `new` would.
template <class T>
T* checked(T* p) {
    if (!p) throw std::bad_alloc();
    return p;
}

}  // namespace hl::dns
