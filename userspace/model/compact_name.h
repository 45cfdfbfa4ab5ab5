// A service's {namespace, name} in 32 bytes instead of a pair of
// std::string's 64: the key of the registry's and the reconciler's records,
// one each per service (65,536 at scale). Reads as the pair does (first,
// second; ordered alike: namespace, then name) and converts to one.
#pragma once

#include <compare>
#include <string>
#include <string_view>
#include <utility>

#include "common/small_string.h"

namespace hl {

struct CompactName {
    SmallString first, second;  // namespace, name
    CompactName() = default;
    CompactName(const std::pair<std::string, std::string>& n) : first(n.first), second(n.second) {}  // NOLINT
    CompactName(std::string_view ns, std::string_view name) : first(ns), second(name) {}
    operator std::pair<std::string, std::string>() const { return {first.str(), second.str()}; }  // NOLINT
    bool operator==(const CompactName&) const = default;
    auto operator<=>(const CompactName&) const = default;
};

}  // namespace hl
