#include "bpf/cleanup.h"

#include <unistd.h>

#include <filesystem>

#include "bpf/maps.h"
#include "bpf/programs.h"

namespace hl {

namespace fs = std::filesystem;

Result<std::vector<std::string>> cleanup_pins(const std::string& pin_dir) {
    std::vector<std::string> removed;
    std::error_code ec;
    if (!fs::exists(pin_dir, ec)) return removed;
    // Links first: the datapath is detached before its maps go.
    for (const auto& cg : fs::directory_iterator(links_dir(pin_dir), ec)) {
        for (const auto& spec : program_specs()) {
            auto p = cg.path() / spec.name;
            if (::unlink(p.c_str()) == 0) removed.push_back("link " + p.string());
        }
        if (::rmdir(cg.path().c_str()) != 0) return sys_error("cannot remove " + cg.path().string());
    }
    ::rmdir(links_dir(pin_dir).c_str());
    for (const auto& spec : program_specs()) {
        auto p = progs_dir(pin_dir) + "/" + spec.name;
        if (::unlink(p.c_str()) == 0) removed.push_back("program " + p);
    }
    ::rmdir(progs_dir(pin_dir).c_str());
    for (const char* name : map_names::all) {
        auto p = pin_dir + "/" + name;
        if (::unlink(p.c_str()) == 0) removed.push_back("map " + p);
    }
    if (::rmdir(pin_dir.c_str()) != 0 && errno != ENOENT)
        removed.push_back("kept " + pin_dir + " (it holds files hopless did not make)");
    return removed;
}

}  // namespace hl
