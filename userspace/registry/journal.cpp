#include "registry/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/write_all.h"
#include "discovery/config_file.h"
#include "discovery/service_json.h"

namespace hl {

namespace {

using json = nlohmann::json;

json endpoint_line(const Registry::Name& n, const Registration& r) {
    json j{{"op", "register"}, {"namespace", n.first}, {"service", n.second}, {"id", r.id},
           {"address", r.address.to_string()}, {"port", r.port}, {"weight", r.weight}};
    if (r.ttl_s) j["ttl"] = *r.ttl_s;
    return j;
}


// One journal line applied to the registry; an error names what is wrong.
std::optional<std::string> apply_line(Registry& reg, const json& j, Clock::time_point now,
                                      Journal::ReplayReport& rep, bool undefined_ok) {
    const std::string op = j.value("op", "");
    if (op == "service") {
        auto s = parse_service_item(j.at("service").dump());
        if (!s) return s.error().what();
        auto r = reg.put_api_service(std::move(*s));
        if (auto* e = std::get_if<RegistryError>(&r)) return e->message;
        ++rep.services;
        return std::nullopt;
    }
    Registry::Name n{j.at("namespace").get<std::string>(), j.at("service").get<std::string>()};
    if (op == "delete_service") {
        reg.delete_api_service(n);  // gone already is fine
        return std::nullopt;
    }
    if (op == "register") {
        Registration r;
        r.id = j.at("id").get<std::string>();
        auto a = IpAddress::parse(j.at("address").get<std::string>());
        if (!a) return "address '" + j.at("address").get<std::string>() + "' is not an address";
        r.address = *a;
        r.port = j.at("port").get<uint16_t>();
        r.weight = j.value("weight", uint16_t{1});
        if (j.contains("ttl")) {
            r.ttl_s = j.at("ttl").get<uint32_t>();
            if (!r.ttl_s) return std::string("ttl 0 is no TTL");  // as the API refuses it
        }
        auto res = reg.register_endpoint(n, std::move(r), now, undefined_ok);
        if (auto* e = std::get_if<RegistryError>(&res)) return e->message;
        ++rep.registrations;
        return std::nullopt;
    }
    if (op == "deregister") {
        reg.deregister(n, j.at("id").get<std::string>());
        return std::nullopt;
    }
    return "unknown op '" + op + "'";
}

}  // namespace

Result<std::unique_ptr<Journal>> Journal::open(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error{"state_dir " + dir + ": " + ec.message(), ec.value()};
    ::chmod(dir.c_str(), 0700);
    std::string path = dir + "/registry.journal";
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!fd) return sys_error("cannot open " + path);
    return std::unique_ptr<Journal>(new Journal(dir, std::move(fd)));
}

Result<Journal::ReplayReport> Journal::replay(Registry& reg, Clock::time_point now, bool undefined_ok) {
    ReplayReport rep;
    std::ifstream in(path_);
    if (!in) return sys_error("cannot read " + path_);
    // Registrations first need their services: the file's are in the
    // registry already, the API's come earlier in the journal.
    std::string line;
    size_t lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (line.empty()) continue;
        std::optional<std::string> problem;
        try {
            problem = apply_line(reg, json::parse(line), now, rep, undefined_ok);
        } catch (const std::exception& e) {
            problem = e.what();
        }
        if (problem) {
            if (!rep.skipped) rep.first_problem = path_ + ":" + std::to_string(lineno) + ": " + *problem;
            ++rep.skipped;
        }
    }
    if (auto st = compact(reg); !st) return st.error();
    return rep;
}

Status Journal::append(const std::string& line) {
    ++lines_;
    return write_all(fd_.get(), line + "\n", path_);
}

Status Journal::put_service(const Service& s) { return append(json{{"op", "service"}, {"service", service_to_json(s)}}.dump()); }

Status Journal::delete_service(const Registry::Name& n) {
    return append(json{{"op", "delete_service"}, {"namespace", n.first}, {"service", n.second}}.dump());
}

Status Journal::put_endpoint(const Registry::Name& n, const Registration& r) { return append(endpoint_line(n, r).dump()); }

Status Journal::delete_endpoint(const Registry::Name& n, const std::string& id) {
    return append(json{{"op", "deregister"}, {"namespace", n.first}, {"service", n.second}, {"id", id}}.dump());
}

Status Journal::maybe_compact(const Registry& reg) {
    size_t live = reg.registration_count() + 64;
    if (lines_ < 4 * live) return ok_status();
    return compact(reg);
}

// The live state, line by line (never as one JSON document: 262,144
// registrations would be hundreds of MB of DOM), to a temporary file that
// replaces the journal in one rename.
Status Journal::compact(const Registry& reg) {
    std::string tmp = path_ + ".tmp";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return sys_error("cannot write " + tmp);
    std::string buf;
    size_t lines = 0;
    Status st = ok_status();
    auto flush = [&](bool force) {
        if (st && (force || buf.size() > (1 << 16))) {
            st = write_all(fd.get(), buf, tmp);
            buf.clear();
        }
    };
    reg.for_each_api_state([&](const auto&... args) {
        if constexpr (sizeof...(args) == 1) {
            buf += json{{"op", "service"}, {"service", service_to_json(args...)}}.dump();
        } else {
            buf += endpoint_line(args...).dump();
        }
        buf += '\n';
        ++lines;
        flush(false);
    });
    flush(true);
    if (!st) return st;
    if (::fsync(fd.get()) != 0) return sys_error("fsync " + tmp);
    if (::rename(tmp.c_str(), path_.c_str()) != 0) return sys_error("rename " + tmp);
    UniqueFd nfd(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    if (!nfd) return sys_error("cannot open " + path_);
    fd_ = std::move(nfd);
    lines_ = lines;
    return ok_status();
}

}  // namespace hl
