#include "daemon/cluster_module.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <spdlog/spdlog.h>

#ifndef HOPLESS_MODULE_RELDIR
#define HOPLESS_MODULE_RELDIR "../lib/hopless"
#endif

namespace hl {

namespace {

std::vector<std::string> candidates() {
    std::vector<std::string> out;
    if (const char* env = std::getenv("HOPLESS_ETCD_MODULE"); env && *env) {
        out.emplace_back(env);
        return out;  // asked for by name: no other
    }
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        out.push_back((exe.parent_path() / cluster::kModuleName).string());
        out.push_back((exe.parent_path() / HOPLESS_MODULE_RELDIR / cluster::kModuleName).lexically_normal().string());
    }
    return out;
}

}  // namespace

Result<std::unique_ptr<cluster::ClusterApi>> load_cluster(const cluster::ClusterArgs& args) {
    std::string tried;
    for (const auto& path : candidates()) {
        if (::access(path.c_str(), R_OK) != 0) {
            tried += (tried.empty() ? "" : ", ") + path;
            continue;
        }
        // RTLD_LOCAL: its symbols (its own copies of libhopless's) resolve
        // inside it and never stand in for the daemon's.
        void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char* why = ::dlerror();
            return Error{"etcd: cannot load " + path + ": " + (why ? why : "dlopen failed"), 0};
        }
        auto create = reinterpret_cast<cluster::CreateCluster>(::dlsym(h, cluster::kCreateClusterSymbol));
        if (!create) {
            ::dlclose(h);
            return Error{"etcd: " + path + " is not a hopless etcd module of this version (no " +
                             std::string(cluster::kCreateClusterSymbol) + ")",
                         0};
        }
        spdlog::debug("etcd: module {}", path);
        // Never closed: the cluster's code and gRPC's threads stay with the process.
        return create(args);
    }
    return Error{"etcd: is configured, but the module " + std::string(cluster::kModuleName) +
                     " that talks to it is not installed (looked for " + tried +
                     "); install it beside hoplessd or set HOPLESS_ETCD_MODULE",
                 0};
}

}  // namespace hl
