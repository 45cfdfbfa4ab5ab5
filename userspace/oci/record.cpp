#include "oci/record.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/unique_fd.h"
#include "model/validate.h"
#include "oci/state.h"

namespace hl::oci {

using json = nlohmann::json;

json record_to_json(const HookRecord& r) {
    json j{{"container", r.container_id}};
    if (r.cgroup) j["cgroup"] = {{"path", *r.cgroup}, {"id", r.cgroup_id}, {"namespace", r.cgroup_ns}};
    json eps = json::array();
    for (const auto& e : r.endpoints)
        eps.push_back({{"namespace", e.ns},
                       {"service", e.service},
                       {"id", e.id},
                       {"address", e.address.to_string()},
                       {"port", e.port}});
    j["endpoints"] = std::move(eps);
    return j;
}

namespace {

Result<std::string> str(const json& o, const char* key, const std::string& at) {
    auto it = o.find(key);
    if (it == o.end() || !it->is_string()) return Error{at + "." + key + ": missing or not a string", 0};
    return it->get<std::string>();
}

}  // namespace

Result<HookRecord> parse_record(std::string_view text) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Error{"record: not a JSON object", 0};
    HookRecord r;
    auto c = str(j, "container", "record");
    if (!c) return c.error();
    if (!valid_container_id(*c)) return Error{"record.container: '" + c->substr(0, 64) + "' is not a container id", 0};
    r.container_id = *c;
    if (auto it = j.find("cgroup"); it != j.end()) {
        if (!it->is_object()) return Error{"record.cgroup: not an object", 0};
        auto p = str(*it, "path", "record.cgroup");
        if (!p) return p.error();
        auto ns = str(*it, "namespace", "record.cgroup");
        if (!ns) return ns.error();
        auto id = it->find("id");
        if (id == it->end() || !id->is_number_unsigned()) return Error{"record.cgroup.id: missing or not a number", 0};
        r.cgroup = *p;
        r.cgroup_ns = *ns;
        r.cgroup_id = id->get<uint64_t>();
    }
    auto eps = j.find("endpoints");
    if (eps == j.end() || !eps->is_array()) return Error{"record.endpoints: missing or not an array", 0};
    for (size_t i = 0; i < eps->size(); ++i) {
        const json& e = (*eps)[i];
        std::string at = "record.endpoints[" + std::to_string(i) + "]";
        if (!e.is_object()) return Error{at + ": not an object", 0};
        RecordedEndpoint re;
        auto ns = str(e, "namespace", at);
        if (!ns) return ns.error();
        auto svc = str(e, "service", at);
        if (!svc) return svc.error();
        auto id = str(e, "id", at);
        if (!id) return id.error();
        auto addr = str(e, "address", at);
        if (!addr) return addr.error();
        auto a = IpAddress::parse(*addr);
        if (!a) return Error{at + ".address: '" + addr->substr(0, 64) + "' is not an address", 0};
        auto port = e.find("port");
        if (port == e.end() || !port->is_number_unsigned() || port->get<uint64_t>() == 0 ||
            port->get<uint64_t>() > 65535)
            return Error{at + ".port: missing or not 1-65535", 0};
        if (!valid_name(*ns) || !valid_name(*svc) || id->empty())
            return Error{at + ": namespace, service or id is not a name", 0};
        re.ns = *ns;
        re.service = *svc;
        re.id = *id;
        re.address = *a;
        re.port = static_cast<uint16_t>(port->get<uint64_t>());
        r.endpoints.push_back(std::move(re));
    }
    return r;
}

std::string default_record_dir() {
    const char* env = std::getenv("HOPLESS_OCI_STATE_DIR");
    return env && *env ? env : "/run/hopless/oci";
}

std::string RecordStore::path(std::string_view container_id) const {
    return dir_ + "/" + std::string(container_id) + ".json";
}

Status RecordStore::save(const HookRecord& r) const {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return Error{"cannot make " + dir_ + ": " + ec.message(), ec.value()};
    ::chmod(dir_.c_str(), 0700);
    std::string final_path = path(r.container_id);
    std::string tmp = final_path + ".tmp." + std::to_string(::getpid());
    std::string text = record_to_json(r).dump() + "\n";
    {
        UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd) return sys_error("cannot write " + tmp);
        size_t off = 0;
        while (off < text.size()) {
            ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
            if (n < 0) {
                if (errno == EINTR) continue;
                auto e = sys_error("cannot write " + tmp);
                ::unlink(tmp.c_str());
                return e;
            }
            off += static_cast<size_t>(n);
        }
        // No fsync: the rename makes the record whole or absent for any
        // process, and what a power loss would take (the default dir is a
        // tmpfs) goes with the containers the record is about.
    }
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
        auto e = sys_error("cannot rename " + tmp + " to " + final_path);
        ::unlink(tmp.c_str());
        return e;
    }
    return ok_status();
}

Result<std::optional<HookRecord>> RecordStore::load(std::string_view container_id) const {
    std::string p = path(container_id);
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
        if (errno == ENOENT) return std::optional<HookRecord>{};
        return sys_error("cannot read " + p);
    }
    std::ifstream in(p, std::ios::binary);
    if (!in) return sys_error("cannot read " + p);
    auto text = read_bounded(in, kMaxStateBytes, p);
    if (!text) return text.error();
    auto r = parse_record(*text);
    if (!r) return Error{p + ": " + r.error().message, 0};
    if (r->container_id != container_id)
        return Error{p + ": holds container '" + r->container_id + "', not '" + std::string(container_id) + "'", 0};
    return std::optional<HookRecord>{std::move(*r)};
}

Status RecordStore::remove(std::string_view container_id) const {
    std::string p = path(container_id);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return sys_error("cannot remove " + p);
    return ok_status();
}

}  // namespace hl::oci
