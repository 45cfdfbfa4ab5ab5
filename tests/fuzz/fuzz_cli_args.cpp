// libFuzzer target: the CLI grammar (argv split on NUL bytes) must never
// crash, whatever a user or a completion script passes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/args.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<std::string> argv(1);
    for (size_t i = 0; i < size && argv.size() < 64; ++i) {
        if (data[i] == 0) argv.emplace_back();
        else argv.back().push_back(static_cast<char>(data[i]));
    }
    auto p = hl::cli::parse_args(argv);
    if (!p) return 0;
    static const std::vector<std::string> keys{"service", "stats", "backend", "cgroup", "prog", "map", "hosts", "resolv"};
    for (const auto& w : p->words) (void)hl::cli::match_keyword(w, keys);
    std::span<const std::string> words(p->words);
    (void)hl::cli::parse_pairs(words, {"namespace", "service"});
    return 0;
}
