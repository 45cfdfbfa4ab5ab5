// A YAML document as a small tree of our own, built from libyaml's parser
// events. A general node tree (yaml-cpp's YAML::Node) costs about 5 KB per
// service of the config (65,536 services: over 300 MB at the peak); this tree
// costs a fraction of that, and the items of one big list (services:) can be
// handed over one at a time and never kept at all. libyaml's parser reads
// the 65,536-service config over ten times faster than yaml-cpp's did.
//
// The tree reads as yaml-cpp's YAML::Load did (the reader was written
// against it): anchors and aliases (an alias is a copy of its node), a
// mapping's pairs in file order, a key given twice kept twice, a plain `~`,
// `null`, `Null`, `NULL` or empty value is null; tags are ignored. It is
// reduced to what the config reader asks of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hl {

class YamlNode {
public:
    enum class Kind : uint8_t { Undefined, Null, Scalar, Sequence, Map };

    YamlNode() = default;  // undefined: what looking up a missing key gives
    explicit YamlNode(Kind kind) : kind_(kind) {}

    explicit operator bool() const { return kind_ != Kind::Undefined; }
    bool is_null() const { return kind_ == Kind::Null; }
    bool is_scalar() const { return kind_ == Kind::Scalar; }
    bool is_sequence() const { return kind_ == Kind::Sequence; }
    bool is_map() const { return kind_ == Kind::Map; }
    const std::string& scalar() const { return scalar_; }  // empty unless a scalar
    // True when the items of this sequence went to a YamlItemSink instead
    // of being kept: it then holds none.
    bool streamed() const { return streamed_; }

    // Items of a sequence, pairs of a mapping; 0 for anything else.
    size_t size() const;
    // The i-th item of a sequence; undefined past the end.
    const YamlNode& operator[](size_t i) const;
    // The i-th pair of a mapping, i < size().
    const YamlNode& key(size_t i) const { return children_[2 * i]; }
    const YamlNode& value(size_t i) const { return children_[2 * i + 1]; }
    // The value of the first pair whose key is the scalar `k`; undefined
    // when there is none (or this is not a mapping).
    const YamlNode& operator[](std::string_view k) const;

private:
    friend class YamlTreeBuilder;
    Kind kind_ = Kind::Undefined;
    bool streamed_ = false;
    std::string scalar_;
    // A sequence's items; a mapping's keys and values, alternating.
    std::vector<YamlNode> children_;
};

// Takes the items of the list under one key of the top-level mapping as each
// is parsed, so a list of 65,536 services never exists as a tree. Only the
// first pair with that key streams (a lookup reads the first one), and not
// when the list carries an anchor (an alias elsewhere would need it whole).
struct YamlItemSink {
    std::string_view key;
    std::function<void(const YamlNode& item, size_t index)> on_item;
};

// A document that is not YAML, or that this tree refuses (an alias inside
// the node it names, an alias of no anchor, nesting deeper than 512, aliases
// expanding to more than 1,048,576 nodes), at 0-based `line` and `column`.
class YamlError : public std::runtime_error {
public:
    YamlError(size_t line, size_t column, const std::string& problem)
        : std::runtime_error(problem), line(line), column(column) {}
    size_t line, column;
};

// The first document of `in` (a null node when there is none). Throws
// YamlError; the sink has then seen some of the items.
YamlNode load_yaml(std::istream& in, const YamlItemSink& sink = {});

}  // namespace hl
