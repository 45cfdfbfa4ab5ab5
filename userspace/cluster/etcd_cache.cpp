#include "cluster/etcd_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/unique_fd.h"
#include "common/write_all.h"
#include "discovery/etcd_layout.h"

namespace hl::cluster {

namespace layout = etcd_layout;
using json = nlohmann::json;

Status save_etcd_cache(const std::string& path, const std::string& prefix, int64_t revision, const Registry& reg) {
    const std::string tmp = path + ".tmp";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return sys_error("cannot write " + tmp);
    std::string buf = json{{"prefix", prefix}, {"revision", revision}}.dump() + "\n";
    Status st = ok_status();
    auto line = [&](std::string key, std::string value, int64_t rev) {
        buf += json::array({std::move(key), std::move(value), rev}).dump();
        buf += '\n';
        if (st && buf.size() > (1 << 16)) {
            st = write_all(fd.get(), buf, tmp);
            buf.clear();
        }
    };
    reg.for_each_etcd([&](const Registry::Name& n, const Service* def, int64_t rev,
                          const std::vector<RemoteEndpoint>& eps) {
        if (def) line(layout::service_key(prefix, n.first, n.second), layout::service_value(*def), rev);
        for (const auto& e : eps)
            line(layout::endpoint_key(prefix, n.first, n.second, reg.host_name(e.host), e.id),
                 layout::endpoint_value({e.address, e.port, e.weight}), 0);
    });
    if (st) st = write_all(fd.get(), buf, tmp);
    if (!st) return st;
    if (::fsync(fd.get()) != 0) return sys_error("fsync " + tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return sys_error("rename " + tmp);
    return ok_status();
}

Result<CacheHeader> read_etcd_cache(const std::string& path, const std::string& prefix,
                                    const std::function<void(etcd::KeyValue)>& f) {
    std::ifstream in(path);
    if (!in) return sys_error("cannot read " + path);
    std::string line;
    if (!std::getline(in, line)) return Error{path + ": empty"};
    auto head = json::parse(line, nullptr, false);
    if (!head.is_object() || !head.contains("prefix") || !head["prefix"].is_string() || !head.contains("revision") ||
        !head["revision"].is_number_integer())
        return Error{path + ": no header line"};
    if (head["prefix"].get<std::string>() != prefix)
        return Error{path + ": written for prefix " + head["prefix"].get<std::string>() + ", not " + prefix};
    CacheHeader h;
    h.revision = head["revision"].get<int64_t>();
    while (std::getline(in, line)) {
        ++h.lines;
        auto j = json::parse(line, nullptr, false);
        // A torn last line (a crash mid-write cannot happen: rename) or an
        // edit by hand: skipped; the parsers after this check the rest.
        if (!j.is_array() || j.size() != 3 || !j[0].is_string() || !j[1].is_string() || !j[2].is_number_integer()) {
            ++h.bad;
            continue;
        }
        etcd::KeyValue kv;
        kv.key = j[0].get<std::string>();
        kv.value = j[1].get<std::string>();
        kv.mod_revision = j[2].get<int64_t>();
        f(std::move(kv));
    }
    return h;
}

}  // namespace hl::cluster
