// The CLI's grammar (bpftool's): hopless [OPTIONS] OBJECT COMMAND [ARGS].
// Global options may stand anywhere; keywords match by unique prefix.
// Kept apart from the commands so it can be unit tested and fuzzed.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"

namespace hl::cli {

struct GlobalOptions {
    bool json = false;
    bool pretty = false;
    bool help = false;
    bool version = false;
    std::string pin_dir = "/sys/fs/bpf/hopless";
    std::string socket = "/run/hopless/hopless.sock";
    std::string config = "/etc/hopless/hopless.yaml";  // the daemon's config (hopless resolv reads it)
};

struct ParsedArgs {
    GlobalOptions opts;
    std::vector<std::string> words;  // OBJECT COMMAND ARGS, options removed
};

Result<ParsedArgs> parse_args(const std::vector<std::string>& argv);

// Finds `word` among keywords: an exact match, else the one keyword it is a
// prefix of. An ambiguous prefix is an error that lists the candidates.
Result<size_t> match_keyword(const std::string& word, const std::vector<std::string>& keywords);

// Parses "KEY VALUE" pairs (e.g. `namespace NS`, `service NAME`) with prefix
// matching of KEY; every key at most once.
Result<std::vector<std::pair<std::string, std::string>>> parse_pairs(std::span<const std::string> words,
                                                                    const std::vector<std::string>& keys);

}  // namespace hl::cli
