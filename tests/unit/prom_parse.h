// A strict parser of the Prometheus text exposition format (0.0.4), for
// tests: what hoplessd writes must be what Prometheus reads, and nothing
// looser. Rules checked (the format's, plus our own stricter habits):
//   - every line ends with '\n'; no empty lines, no comments but HELP/TYPE;
//   - HELP and TYPE at most once per family, before its first sample; every
//     sample's family has a TYPE (counter, gauge or histogram);
//   - the samples of a family are contiguous (a family never comes back);
//   - metric and label names are valid; label values use only the \\, \"
//     and \n escapes; no label twice in a sample; no series twice;
//   - values parse as floats (NaN, +Inf, -Inf too); counters are >= 0;
//   - a histogram's series: _bucket with le, cumulative (non-decreasing as
//     le grows), the last le="+Inf", then _sum and _count, _count equal
//     to the +Inf bucket.
// Header only: the unit tests and tests/tools/prom_check (the e2e tests'
// check of a real scrape) share it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace promtest {

struct Sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

struct Family {
    std::string name, help, type;
    std::vector<Sample> samples;
};

struct Parsed {
    std::vector<Family> families;  // in the order they came
    std::string error;             // empty when the text is valid
    size_t error_line = 0;

    const Family* family(std::string_view name) const {
        for (const auto& f : families)
            if (f.name == name) return &f;
        return nullptr;
    }
    // The value of the sample `name` whose labels are exactly `labels`.
    std::optional<double> value(std::string_view name, const std::map<std::string, std::string>& labels = {}) const {
        for (const auto& f : families)
            for (const auto& s : f.samples)
                if (s.name == name && s.labels == labels) return s.value;
        return std::nullopt;
    }
    size_t samples() const {
        size_t n = 0;
        for (const auto& f : families) n += f.samples.size();
        return n;
    }
};

namespace detail {

inline bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
inline bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
inline bool valid_name(std::string_view n, bool label) {
    if (n.empty() || !name_start(n[0]) || (label && n[0] == ':')) return false;
    for (char c : n)
        if (!name_char(c) || (label && c == ':')) return false;
    return true;
}
inline bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
inline std::optional<double> number(std::string_view t) {
    if (t == "NaN") return NAN;
    if (t == "+Inf") return INFINITY;
    if (t == "-Inf") return -INFINITY;
    if (t.empty()) return std::nullopt;
    std::string s(t);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (*end || s == "." || s.find_first_of("xXpP") != std::string::npos) return std::nullopt;
    if (s.find("inf") != std::string::npos || s.find("nan") != std::string::npos ||
        s.find("INF") != std::string::npos || s.find("NAN") != std::string::npos)
        return std::nullopt;
    return v;
}

}  // namespace detail

inline Parsed parse(std::string_view text) {
    using namespace detail;
    Parsed p;
    size_t line_no = 0;
    std::set<std::string> closed;            // families that ended
    std::set<std::string> series;            // name + labels seen
    std::map<std::string, Family*> by_name;  // families by name
    Family* cur = nullptr;
    auto fail = [&](std::string why) {
        p.error = std::move(why);
        p.error_line = line_no;
        return p;
    };
    auto family_of = [&](const std::string& name, bool create) -> Family* {
        auto it = by_name.find(name);
        if (it != by_name.end()) return it->second;
        if (!create) return nullptr;
        p.families.push_back(Family{name, "", "", {}});
        // Pointers stay valid: rebuilt below after each growth.
        by_name.clear();
        for (auto& f : p.families) by_name[f.name] = &f;
        return by_name[name];
    };
    auto enter = [&](const std::string& name) -> std::string {
        if (cur && cur->name == name) return "";
        if (closed.count(name)) return "family " + name + " comes back after other families (not contiguous)";
        if (cur) closed.insert(cur->name);
        cur = family_of(name, true);
        return "";
    };
    if (!text.empty() && text.back() != '\n') {
        line_no = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
        return fail("the text does not end with a newline");
    }
    size_t at = 0;
    while (at < text.size()) {
        ++line_no;
        size_t nl = text.find('\n', at);
        std::string_view line = text.substr(at, nl - at);
        at = nl + 1;
        if (line.empty()) return fail("empty line");
        if (line[0] == '#') {
            bool help = line.rfind("# HELP ", 0) == 0, type = line.rfind("# TYPE ", 0) == 0;
            if (!help && !type) return fail("a comment that is neither HELP nor TYPE: " + std::string(line));
            std::string_view rest = line.substr(7);
            size_t sp = rest.find(' ');
            if (sp == std::string_view::npos) return fail("HELP/TYPE without text");
            std::string name(rest.substr(0, sp));
            std::string_view arg = rest.substr(sp + 1);
            if (!valid_name(name, false)) return fail("bad metric name '" + name + "'");
            if (auto e = enter(name); !e.empty()) return fail(e);
            if (!cur->samples.empty()) return fail("HELP/TYPE of " + name + " after its samples");
            if (help) {
                if (!cur->help.empty()) return fail("second HELP for " + name);
                std::string h;
                for (size_t i = 0; i < arg.size(); ++i) {
                    if (arg[i] != '\\') {
                        h += arg[i];
                        continue;
                    }
                    if (++i == arg.size()) return fail("HELP ends in a backslash");
                    if (arg[i] == '\\') h += '\\';
                    else if (arg[i] == 'n') h += '\n';
                    else return fail(std::string("HELP escape \\") + arg[i]);
                }
                if (h.empty()) return fail("empty HELP for " + name);
                cur->help = h;
            } else {
                if (!cur->type.empty()) return fail("second TYPE for " + name);
                if (arg != "counter" && arg != "gauge" && arg != "histogram")
                    return fail("TYPE of " + name + " is '" + std::string(arg) + "'");
                cur->type = std::string(arg);
            }
            continue;
        }
        // A sample: name{labels} value
        size_t i = 0;
        while (i < line.size() && name_char(line[i])) ++i;
        std::string name(line.substr(0, i));
        if (!valid_name(name, false)) return fail("bad metric name in: " + std::string(line));
        Sample s;
        s.name = name;
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (true) {
                if (i < line.size() && line[i] == '}') {
                    if (!s.labels.empty()) return fail("a trailing comma in the labels");
                    ++i;
                    break;
                }
                size_t k = i;
                while (i < line.size() && name_char(line[i])) ++i;
                std::string key(line.substr(k, i - k));
                if (!valid_name(key, true)) return fail("bad label name '" + key + "'");
                if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return fail("label " + key + " without =\"");
                i += 2;
                std::string v;
                bool closed_quote = false;
                while (i < line.size()) {
                    char c = line[i++];
                    if (c == '"') {
                        closed_quote = true;
                        break;
                    }
                    if (c != '\\') {
                        v += c;
                        continue;
                    }
                    if (i == line.size()) break;
                    char e = line[i++];
                    if (e == '\\') v += '\\';
                    else if (e == '"') v += '"';
                    else if (e == 'n') v += '\n';
                    else return fail(std::string("label value escape \\") + e);
                }
                if (!closed_quote) return fail("unterminated label value of " + key);
                if (!s.labels.emplace(key, v).second) return fail("label " + key + " twice");
                if (i < line.size() && line[i] == ',') {
                    ++i;
                    if (i < line.size() && line[i] == '}') return fail("a trailing comma in the labels");
                    continue;
                }
                if (i < line.size() && line[i] == '}') {
                    ++i;
                    break;
                }
                return fail("labels not closed: " + std::string(line));
            }
        }
        if (i >= line.size() || line[i] != ' ') return fail("no space before the value: " + std::string(line));
        std::string_view vt = line.substr(i + 1);
        if (vt.find(' ') != std::string_view::npos) return fail("a timestamp or trailing text: " + std::string(line));
        auto v = number(vt);
        if (!v) return fail("value '" + std::string(vt) + "' is not a number");
        s.value = *v;
        // Its family: the name itself, or a histogram's base.
        std::string fam = name;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            if (!ends_with(name, suffix)) continue;
            std::string base = name.substr(0, name.size() - std::string_view(suffix).size());
            if (Family* f = family_of(base, false); f && f->type == "histogram") fam = base;
        }
        if (auto e = enter(fam); !e.empty()) return fail(e);
        if (cur->type.empty()) return fail("sample of " + fam + " without a TYPE");
        if (cur->type == "histogram" && fam == name) return fail("histogram sample without a suffix: " + name);
        if (cur->type == "counter" && !(s.value >= 0)) return fail("counter " + name + " is negative or NaN");
        const bool bucket = cur->type == "histogram" && ends_with(name, "_bucket");
        if (bucket != (s.labels.count("le") > 0)) return fail("label le where it does not belong, or missing: " + name);
        std::string key = name + "{";
        for (const auto& [k, val] : s.labels) key += k + "=" + val + ",";
        if (!series.insert(key).second) return fail("series twice: " + std::string(line));
        cur->samples.push_back(std::move(s));
    }
    // Histograms: per label set, cumulative buckets up to +Inf, _sum, _count.
    for (const auto& f : p.families) {
        if (f.type != "histogram") continue;
        struct H {
            std::vector<std::pair<double, double>> buckets;
            std::optional<double> sum, count;
        };
        std::map<std::map<std::string, std::string>, H> hs;
        for (const auto& s : f.samples) {
            auto labels = s.labels;
            if (ends_with(s.name, "_bucket")) {
                auto le = number(labels["le"]);
                if (!le) {
                    p.error = f.name + ": le '" + labels["le"] + "' is not a number";
                    return p;
                }
                labels.erase("le");
                hs[labels].buckets.push_back({*le, s.value});
            } else if (ends_with(s.name, "_sum")) {
                hs[labels].sum = s.value;
            } else {
                hs[labels].count = s.value;
            }
        }
        for (const auto& [labels, h] : hs) {
            if (h.buckets.empty() || !h.sum || !h.count) {
                p.error = f.name + ": a series without buckets, _sum or _count";
                return p;
            }
            for (size_t i = 1; i < h.buckets.size(); ++i)
                if (!(h.buckets[i].first > h.buckets[i - 1].first) || h.buckets[i].second < h.buckets[i - 1].second) {
                    p.error = f.name + ": buckets not in order of le or not cumulative";
                    return p;
                }
            if (!std::isinf(h.buckets.back().first)) {
                p.error = f.name + ": the last bucket is not le=\"+Inf\"";
                return p;
            }
            if (h.buckets.back().second != *h.count) {
                p.error = f.name + ": _count differs from the +Inf bucket";
                return p;
            }
        }
    }
    return p;
}

}  // namespace promtest
