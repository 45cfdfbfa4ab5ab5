#include "cli/args.h"

#include <set>

namespace hl::cli {

Result<ParsedArgs> parse_args(const std::vector<std::string>& argv) {
    ParsedArgs p;
    bool options_done = false;
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (options_done || a.empty() || a[0] != '-' || a == "-") {
            p.words.push_back(a);
            continue;
        }
        auto value = [&](const char* name) -> Result<std::string> {
            if (i + 1 >= argv.size()) return Error{std::string(name) + " needs a value", 0};
            return argv[++i];
        };
        if (a == "--") {
            options_done = true;
        } else if (a == "-j" || a == "--json") {
            p.opts.json = true;
        } else if (a == "-p" || a == "--pretty") {
            p.opts.json = p.opts.pretty = true;
        } else if (a == "-jp" || a == "-pj") {
            p.opts.json = p.opts.pretty = true;
        } else if (a == "-h" || a == "--help") {
            p.opts.help = true;
        } else if (a == "-V" || a == "--version") {
            p.opts.version = true;
        } else if (a == "--pin-dir" || a.rfind("--pin-dir=", 0) == 0) {
            if (a.size() > 9 && a[9] == '=') p.opts.pin_dir = a.substr(10);
            else if (auto v = value("--pin-dir")) p.opts.pin_dir = *v;
            else return v.error();
            if (p.opts.pin_dir.empty()) return Error{"--pin-dir needs a directory", 0};
        } else if (a == "--socket" || a.rfind("--socket=", 0) == 0) {
            if (a.size() > 8 && a[8] == '=') p.opts.socket = a.substr(9);
            else if (auto v = value("--socket")) p.opts.socket = *v;
            else return v.error();
        } else if (a == "--config" || a.rfind("--config=", 0) == 0) {
            if (a.size() > 8 && a[8] == '=') p.opts.config = a.substr(9);
            else if (auto v = value("--config")) p.opts.config = *v;
            else return v.error();
            if (p.opts.config.empty()) return Error{"--config needs a file", 0};
        } else {
            return Error{"unknown option '" + a + "' (see hopless help)", 0};
        }
    }
    return p;
}

Result<size_t> match_keyword(const std::string& word, const std::vector<std::string>& keywords) {
    std::vector<size_t> hits;
    for (size_t i = 0; i < keywords.size(); ++i) {
        if (keywords[i] == word) return i;
        if (!word.empty() && keywords[i].compare(0, word.size(), word) == 0) hits.push_back(i);
    }
    if (hits.size() == 1) return hits[0];
    if (hits.empty()) {
        std::string all;
        for (const auto& k : keywords) all += (all.empty() ? "" : ", ") + k;
        return Error{"unknown keyword '" + word + "' (expected one of: " + all + ")", 0};
    }
    std::string cands;
    for (size_t h : hits) cands += (cands.empty() ? "" : ", ") + keywords[h];
    return Error{"'" + word + "' is ambiguous: " + cands, 0};
}

Result<std::vector<std::pair<std::string, std::string>>> parse_pairs(std::span<const std::string> words,
                                                                    const std::vector<std::string>& keys) {
    std::vector<std::pair<std::string, std::string>> out;
    std::set<std::string> seen;
    for (size_t i = 0; i < words.size(); i += 2) {
        auto k = match_keyword(words[i], keys);
        if (!k) return k.error();
        const std::string& key = keys[*k];
        if (i + 1 >= words.size()) return Error{"'" + key + "' needs a value", 0};
        if (!seen.insert(key).second) return Error{"'" + key + "' given twice", 0};
        out.emplace_back(key, words[i + 1]);
    }
    return out;
}

}  // namespace hl::cli
