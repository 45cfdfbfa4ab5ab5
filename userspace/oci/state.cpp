#include "oci/state.h"

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

namespace hl::oci {

using json = nlohmann::json;

namespace {

std::string kind(const json& j) { return j.type_name(); }

// A short rendering of a bad value for an error message.
std::string shown(const json& j) {
    std::string s = j.dump();
    if (s.size() > 64) s = s.substr(0, 61) + "...";
    return s;
}

Result<std::string> string_field(const json& o, const char* name, const char* where, bool required) {
    auto it = o.find(name);
    if (it == o.end() || (it->is_null() && !required)) {
        if (required) return Error{std::string(where) + "." + name + ": missing", 0};
        return std::string();
    }
    if (!it->is_string())
        return Error{std::string(where) + "." + name + ": expected a string, got " + kind(*it) + " " + shown(*it), 0};
    return it->get<std::string>();
}

Result<Annotations> annotations_of(const json& a, const char* where) {
    if (!a.is_object())
        return Error{std::string(where) + ": expected an object of strings, got " + kind(a) + " " + shown(a), 0};
    Annotations out;
    for (const auto& [k, v] : a.items()) {
        if (!v.is_string())
            return Error{std::string(where) + "." + k + ": expected a string, got " + kind(v) + " " + shown(v), 0};
        out.emplace(k, v.get<std::string>());
    }
    return out;
}

Result<json> parse_object(std::string_view text, const char* what, size_t max_bytes) {
    if (text.size() > max_bytes)
        return Error{std::string(what) + ": larger than " + std::to_string(max_bytes) + " bytes", 0};
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Error{std::string(what) + ": not valid JSON", 0};
    if (!j.is_object()) return Error{std::string(what) + ": expected a JSON object, got " + kind(j), 0};
    return j;
}

}  // namespace

bool valid_container_id(std::string_view id) {
    if (id.empty() || id.size() > 128 || id == "." || id == "..") return false;
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '+' || c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

Result<ContainerState> parse_state(std::string_view text) {
    auto j = parse_object(text, "container state", kMaxStateBytes);
    if (!j) return j.error();
    ContainerState s;
    auto ver = string_field(*j, "ociVersion", "state", true);
    if (!ver) return ver.error();
    s.oci_version = std::move(*ver);
    auto id = string_field(*j, "id", "state", true);
    if (!id) return id.error();
    if (!valid_container_id(*id))
        return Error{"state.id: '" + id->substr(0, 64) + "' is not a container id (1-128 of A-Z a-z 0-9 _ + - .)", 0};
    s.id = std::move(*id);
    auto status = string_field(*j, "status", "state", true);
    if (!status) return status.error();
    if (status->empty()) return Error{"state.status: empty", 0};
    s.status = std::move(*status);
    auto bundle = string_field(*j, "bundle", "state", false);
    if (!bundle) return bundle.error();
    s.bundle = std::move(*bundle);
    if (auto it = j->find("pid"); it != j->end() && !it->is_null()) {
        // runc writes "pid": 0 into a stopped container's state: no process.
        if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
            it->get<int64_t>() > std::numeric_limits<pid_t>::max())
            return Error{"state.pid: expected a process id, got " + shown(*it), 0};
        if (auto pid = it->get<int64_t>(); pid > 0) s.pid = static_cast<pid_t>(pid);
    }
    if (auto it = j->find("annotations"); it != j->end() && !it->is_null()) {
        auto a = annotations_of(*it, "state.annotations");
        if (!a) return a.error();
        s.annotations = std::move(*a);
    }
    return s;
}

Result<Annotations> parse_bundle_annotations(std::string_view config_json) {
    auto j = parse_object(config_json, "config.json", kMaxConfigBytes);
    if (!j) return j.error();
    auto it = j->find("annotations");
    if (it == j->end() || it->is_null()) return Annotations{};
    return annotations_of(*it, "config.json: annotations");
}

Result<std::string> read_bounded(std::istream& in, size_t max_bytes, const std::string& what) {
    std::string out;
    char buf[16384];
    while (in) {
        in.read(buf, sizeof buf);
        out.append(buf, static_cast<size_t>(in.gcount()));
        if (out.size() > max_bytes) return Error{what + ": larger than " + std::to_string(max_bytes) + " bytes", 0};
    }
    if (in.bad()) return Error{"cannot read " + what, 0};
    return out;
}

Result<Annotations> read_bundle_annotations(const std::string& bundle_dir) {
    std::string path = bundle_dir + "/config.json";
    std::ifstream in(path, std::ios::binary);
    if (!in) return sys_error("cannot read " + path);
    auto text = read_bounded(in, kMaxConfigBytes, path);
    if (!text) return text.error();
    auto a = parse_bundle_annotations(*text);
    if (!a) return Error{path + ": " + a.error().message, 0};
    return a;
}

}  // namespace hl::oci
