// libFuzzer target: what an OCI runtime (or anyone who can write a bundle)
// hands the hook must never crash it: the container state on stdin, the
// bundle's config.json annotations, the io.hopless.* annotation values, the
// record file poststart leaves, and /proc/PID/cgroup text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "oci/annotations.h"
#include "oci/container.h"
#include "oci/record.h"
#include "oci/state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto s = hl::oci::parse_state(text); s && s->annotations) {
        if (auto req = hl::oci::parse_annotations(*s->annotations); req && req->wanted())
            for (const auto& r : req->registrations) (void)hl::oci::endpoint_id(s->id, r);
    }
    if (auto a = hl::oci::parse_bundle_annotations(text)) (void)hl::oci::parse_annotations(*a);
    (void)hl::oci::parse_register(text);
    if (auto r = hl::oci::parse_record(text)) (void)hl::oci::record_to_json(*r).dump();
    (void)hl::oci::parse_proc_cgroup(text);
    if (auto a = hl::IpAddress::parse(text)) (void)hl::oci::is_global(*a);
    return 0;
}
