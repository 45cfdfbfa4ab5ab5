// What the control API changed, kept under state_dir so that registrations
// and API-defined services outlive the daemon (kill -9 included).
//
// An append-only journal of JSON lines, one change a line, so that a
// registration costs one short write, not a rewrite of every registration
// (262,144 of them). When the journal has grown to several times what is
// live, it is rewritten as the live state alone: written to a temporary
// file, fsynced and renamed over, so a crash leaves the old or the new one
// whole. A torn last line (a crash mid-write) is skipped on replay.
// Heartbeats are not journaled: a restart gives every TTL a fresh start.
#pragma once

#include <memory>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"
#include "registry/registry.h"

namespace hl {

class Journal {
public:
    // Opens (creating dir 0700 and the file 0600) DIR/registry.journal.
    static Result<std::unique_ptr<Journal>> open(const std::string& dir);

    struct ReplayReport {
        size_t services = 0, registrations = 0, skipped = 0;
        std::string first_problem;  // of the skipped lines
    };
    // Applies the journal to `reg` (every TTL restarts at `now`), then
    // rewrites it compactly. `undefined_ok`: registrations of services not
    // defined yet are kept (with etcd, definitions come after the replay).
    Result<ReplayReport> replay(Registry& reg, Clock::time_point now, bool undefined_ok = false);

    Status put_service(const Service& s);
    Status delete_service(const Registry::Name& n);
    Status put_endpoint(const Registry::Name& n, const Registration& r);
    Status delete_endpoint(const Registry::Name& n, const std::string& id);
    // Rewrites the journal as the live state when it has grown enough.
    Status maybe_compact(const Registry& reg);
    Status compact(const Registry& reg);
    const std::string& path() const { return path_; }

private:
    Journal(std::string dir, UniqueFd fd) : dir_(std::move(dir)), path_(dir_ + "/registry.journal"), fd_(std::move(fd)) {}
    Status append(const std::string& line);

    std::string dir_, path_;
    UniqueFd fd_;
    size_t lines_ = 0;
};

}  // namespace hl
