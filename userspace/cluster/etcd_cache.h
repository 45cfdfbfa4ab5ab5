// The last state this host saw in etcd, kept in state_dir/etcd.cache, so
// that a daemon restarted while etcd is away keeps serving what the cluster
// held (DESIGN.md: the datapath never depends on etcd being up). Written
// after each list, every 30 s while the watch changes things, and at exit;
// read once at start, before the first list, which replaces it whole.
//
// The file is etcd's own key-values, one JSON array [key, value,
// mod_revision] a line after a header line {"prefix", "revision"}: read back
// through the same parser as a list from etcd. Written to a temporary file
// and renamed over, so a crash leaves the old or the new one whole.
#pragma once

#include <functional>
#include <string>

#include "common/error.h"
#include "etcd/types.h"
#include "registry/registry.h"

namespace hl::cluster {

Status save_etcd_cache(const std::string& path, const std::string& prefix, int64_t revision, const Registry& reg);

struct CacheHeader {
    int64_t revision = 0;
    size_t lines = 0, bad = 0;
};
// Each key-value of a cache written for `prefix` to f; a cache of another
// prefix (the config changed) or none at all is an error (nothing read).
Result<CacheHeader> read_etcd_cache(const std::string& path, const std::string& prefix,
                                    const std::function<void(etcd::KeyValue)>& f);

}  // namespace hl::cluster
