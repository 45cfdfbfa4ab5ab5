#include "bpf/cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <filesystem>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hl {

namespace fs = std::filesystem;

Result<std::string> cgroup2_mount() {
    std::ifstream in("/proc/mounts");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string dev, dir, type;
        ls >> dev >> dir >> type;
        if (type == "cgroup2") return dir;
    }
    return Error{"no cgroup v2 mount in /proc/mounts (hopless needs cgroup v2)", 0};
}

Result<std::string> resolve_cgroup(const std::string& path) {
    std::string abs = path;
    if (path.empty()) return Error{"empty cgroup path", 0};
    if (path[0] != '/') {
        auto mnt = cgroup2_mount();
        if (!mnt) return mnt.error();
        abs = *mnt + "/" + path;
    }
    struct statfs sfs {};
    if (statfs(abs.c_str(), &sfs) != 0) return sys_error("no cgroup at " + abs);
    if (sfs.f_type != CGROUP2_SUPER_MAGIC) return Error{abs + " is not in a cgroup v2 hierarchy", 0};
    std::error_code ec;
    if (!fs::is_directory(abs, ec)) return Error{abs + " is not a cgroup directory", 0};
    return fs::path(abs).lexically_normal().string();
}

Result<uint64_t> cgroup_id(const std::string& abs_path) {
    // The cgroup id is the kernfs node id, which a file handle carries.
    struct {
        struct file_handle fh;
        uint64_t id;
    } h{};
    h.fh.handle_bytes = sizeof(uint64_t);
    int mount_id = 0;
    if (name_to_handle_at(AT_FDCWD, abs_path.c_str(), &h.fh, &mount_id, 0) != 0)
        return sys_error("cannot get the id of cgroup " + abs_path);
    uint64_t id = 0;
    std::memcpy(&id, h.fh.f_handle, sizeof id);
    return id;
}

Result<UniqueFd> open_cgroup(const std::string& abs_path) {
    int fd = ::open(abs_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error("cannot open cgroup " + abs_path);
    return UniqueFd(fd);
}

Result<std::string> cgroup_of_pid(int pid) {
    if (pid <= 0) return Error{"pid: " + std::to_string(pid) + " is not a process id", 0};
    std::string file = "/proc/" + std::to_string(pid) + "/cgroup";
    std::ifstream in(file);
    if (!in) return Error{"pid: no process " + std::to_string(pid), errno};
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("0::", 0) != 0) continue;
        auto mount = cgroup2_mount();
        if (!mount) return mount.error();
        std::string rel = line.substr(3);
        return rel == "/" ? *mount : *mount + rel;
    }
    return Error{"pid: process " + std::to_string(pid) + " has no cgroup v2 membership in " + file, 0};
}

std::string cgroup_path_of(uint64_t id) {
    auto mnt = cgroup2_mount();
    if (!mnt) return "";
    std::error_code ec;
    if (auto root = cgroup_id(*mnt); root && *root == id) return *mnt;
    for (fs::recursive_directory_iterator it(*mnt, fs::directory_options::skip_permission_denied, ec), end;
         it != end; it.increment(ec)) {
        if (ec) break;
        if (!it->is_directory(ec)) continue;
        auto cid = cgroup_id(it->path().string());
        if (cid && *cid == id) return it->path().string();
    }
    return "";
}

Status ensure_pin_dir(const std::string& dir) {
    struct statfs sfs {};
    if (statfs("/sys/fs/bpf", &sfs) != 0 || sfs.f_type != BPF_FS_MAGIC) {
        ::mkdir("/sys/fs/bpf", 0755);
        if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) != 0) return sys_error("cannot mount bpffs at /sys/fs/bpf");
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Error{"cannot create pin dir " + dir + ": " + ec.message(), ec.value()};
    if (statfs(dir.c_str(), &sfs) != 0 || sfs.f_type != BPF_FS_MAGIC)
        return Error{"pin dir " + dir + " is not on a bpf filesystem", 0};
    return ok_status();
}

}  // namespace hl
