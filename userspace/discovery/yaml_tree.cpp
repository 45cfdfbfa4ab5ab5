#include "discovery/yaml_tree.h"

#include <yaml.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <optional>
#include <unordered_map>
#include <utility>

namespace hl {

size_t YamlNode::size() const {
    if (kind_ == Kind::Sequence) return children_.size();
    if (kind_ == Kind::Map) return children_.size() / 2;
    return 0;
}

const YamlNode& YamlNode::operator[](size_t i) const {
    static const YamlNode undefined;
    return kind_ == Kind::Sequence && i < children_.size() ? children_[i] : undefined;
}

const YamlNode& YamlNode::operator[](std::string_view k) const {
    static const YamlNode undefined;
    if (kind_ != Kind::Map) return undefined;
    for (size_t i = 0; i < size(); ++i)
        if (key(i).is_scalar() && key(i).scalar() == k) return value(i);
    return undefined;
}

namespace {

// Nesting: a config is 4 deep; the limit keeps the tree's recursive copy and
// destruction far from the stack's end whatever the input.
constexpr size_t kMaxDepth = 512;
// Aliases copy their node: without a bound, a few hundred bytes of nested
// aliases ("billion laughs") would expand to billions of nodes. This allows
// a 3-backend list aliased into each of 65,536 services (10 nodes each), and
// bounds a hostile document's cost to ~0.2 s.
constexpr size_t kMaxAliasNodes = size_t{1} << 20;

std::string_view text_of(const yaml_char_t* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }
std::string_view text_of(const yaml_char_t* p) { return p ? reinterpret_cast<const char*>(p) : ""; }

// An untagged plain `~`, `null`, `Null`, `NULL` or empty node is null; with
// a tag (`!!str null`, `!!str`) it is the text: what yaml-cpp 0.7 did.
bool is_null_scalar(const yaml_event_t& e) {
    const auto& s = e.data.scalar;
    if (s.style != YAML_PLAIN_SCALAR_STYLE || s.tag) return false;
    std::string_view v = text_of(s.value, s.length);
    return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
}

}  // namespace

// Builds the tree from libyaml's events, as yaml-cpp's NodeBuilder (what
// YAML::Load used) built its nodes from the same document.
class YamlTreeBuilder {
public:
    explicit YamlTreeBuilder(const YamlItemSink& sink) : sink_(sink) {}

    YamlNode take_root() { return have_root_ ? std::move(root_) : YamlNode(YamlNode::Kind::Null); }

    // True once the first document (or the stream, when it has none) ended.
    bool on_event(const yaml_event_t& e) {
        switch (e.type) {
        case YAML_STREAM_END_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            return true;
        case YAML_ALIAS_EVENT:
            alias(e);
            break;
        case YAML_SCALAR_EVENT: {
            size_t anchor = register_anchor(e.data.scalar.anchor);
            if (is_null_scalar(e)) {
                complete(YamlNode(YamlNode::Kind::Null), anchor, 1, 0);
            } else {
                YamlNode n(YamlNode::Kind::Scalar);
                n.scalar_.assign(text_of(e.data.scalar.value, e.data.scalar.length));
                complete(std::move(n), anchor, 1, 0);
            }
            break;
        }
        case YAML_SEQUENCE_START_EVENT: {
            size_t anchor = register_anchor(e.data.sequence_start.anchor);
            open(e, YamlNode::Kind::Sequence, anchor);
            stack_.back().node.streamed_ = anchor == 0 && is_streamed_list();
            break;
        }
        case YAML_MAPPING_START_EVENT:
            open(e, YamlNode::Kind::Map, register_anchor(e.data.mapping_start.anchor));
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            close();
            break;
        default:  // stream and document start
            break;
        }
        return false;
    }

private:
    struct Open {
        YamlNode node;
        size_t anchor = 0;  // registered when the node is complete
        size_t nodes = 1;   // in this node's subtree, for the alias budget
        size_t height = 1;  // collections nested in it, itself included
        size_t streamed_items = 0;
    };
    struct Anchored {
        YamlNode node;
        size_t nodes = 0, height = 0;
    };

    [[noreturn]] static void fail(const yaml_event_t& e, const std::string& what) {
        throw YamlError(e.start_mark.line, e.start_mark.column, what);
    }

    // yaml-cpp's numbering: an anchor names the node from where it is given
    // (so an alias inside that node is a cycle), and a name given again names
    // the newer node from then on, even if the older one completes later.
    size_t register_anchor(const yaml_char_t* name) {
        if (!name) return 0;
        anchors_.emplace_back();
        size_t id = anchors_.size() - 1;
        anchor_ids_[std::string(text_of(name))] = id;
        return id;
    }

    void alias(const yaml_event_t& e) {
        auto it = anchor_ids_.find(std::string(text_of(e.data.alias.anchor)));
        if (it == anchor_ids_.end()) fail(e, "the referenced anchor is not defined");
        // A copy reads as yaml-cpp's alias (the node itself) did, except
        // inside that node, where yaml-cpp made a cycle. No config with one
        // is valid (every path of the schema ends in a scalar), so it is
        // rejected here, before anything half-built is read.
        const auto& a = anchors_[it->second];
        if (!a) fail(e, "an alias inside the node it names (a cycle) is not supported");
        if (stack_.size() + a->height > kMaxDepth) fail(e, "nesting deeper than " + std::to_string(kMaxDepth));
        alias_nodes_ += a->nodes;
        if (alias_nodes_ > kMaxAliasNodes)
            fail(e, "aliases expand to more than " + std::to_string(kMaxAliasNodes) + " nodes");
        complete(YamlNode(a->node), 0, a->nodes, a->height);
    }

    void open(const yaml_event_t& e, YamlNode::Kind kind, size_t anchor) {
        if (stack_.size() >= kMaxDepth) fail(e, "nesting deeper than " + std::to_string(kMaxDepth));
        // Inside a streamed item the node lives only until the sink has
        // read it: room for a service's pairs up front saves the vector's
        // regrowth (a tree that is kept gets no slack).
        bool transient = stack_.size() >= 2 && stack_[1].node.streamed_;
        stack_.push_back({YamlNode(kind), anchor});
        if (transient) stack_.back().node.children_.reserve(kind == YamlNode::Kind::Map ? 16 : 4);
    }

    void close() {
        Open top = std::move(stack_.back());
        stack_.pop_back();
        complete(std::move(top.node), top.anchor, top.nodes, top.height);
    }

    // A finished node goes into the collection being built, or is the root.
    void complete(YamlNode n, size_t anchor, size_t nodes, size_t height) {
        if (anchor) anchors_[anchor] = Anchored{n, nodes, height};
        if (stack_.empty()) {
            root_ = std::move(n);
            have_root_ = true;
            return;
        }
        Open& parent = stack_.back();
        parent.nodes += nodes;
        parent.height = std::max(parent.height, height + 1);
        if (parent.node.streamed_) {
            sink_.on_item(n, parent.streamed_items++);
            return;
        }
        parent.node.children_.push_back(std::move(n));
    }

    // Is the sequence just opened the value of the sink's key, the first such
    // key of the top-level mapping?
    bool is_streamed_list() const {
        if (!sink_.on_item || stack_.size() != 2) return false;
        const YamlNode& top = stack_[0].node;
        if (!top.is_map() || top.children_.size() % 2 == 0) return false;  // not in a value
        const YamlNode& k = top.children_.back();
        if (!k.is_scalar() || k.scalar() != sink_.key) return false;
        for (size_t i = 0; i + 1 < top.children_.size(); i += 2)
            if (top.children_[i].is_scalar() && top.children_[i].scalar() == sink_.key) return false;
        return true;
    }

    const YamlItemSink& sink_;
    std::vector<Open> stack_;
    std::vector<std::optional<Anchored>> anchors_{1};  // [0]: no anchor
    std::unordered_map<std::string, size_t> anchor_ids_;
    size_t alias_nodes_ = 0;
    YamlNode root_;
    bool have_root_ = false;
};

namespace {

class Parser {
public:
    Parser() {
        if (!yaml_parser_initialize(&p_)) throw std::bad_alloc();
    }
    ~Parser() { yaml_parser_delete(&p_); }
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;
    yaml_parser_t* get() { return &p_; }

private:
    yaml_parser_t p_;
};

struct Event {
    yaml_event_t e{};  // yaml_event_delete of a zeroed event (a failed parse) is a no-op
    Event() = default;
    ~Event() { yaml_event_delete(&e); }
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
};

// libyaml pulls the input in blocks (16 KB): the file is never held whole.
int read_stream(void* data, unsigned char* buffer, size_t size, size_t* size_read) {
    auto& in = *static_cast<std::istream*>(data);
    in.read(reinterpret_cast<char*>(buffer), static_cast<std::streamsize>(size));
    *size_read = static_cast<size_t>(in.gcount());
    return in.bad() ? 0 : 1;
}

// libyaml names a bad byte (invalid UTF-8, a control character) by its
// offset in the input only: read up to it again for its line and column.
std::pair<size_t, size_t> locate(std::istream& in, std::streampos start, size_t offset) {
    size_t line = 0, column = 0;
    in.clear();
    if (start == std::streampos(-1) || !in.seekg(start)) return {line, column};
    char buf[4096];
    while (offset > 0 && in.read(buf, static_cast<std::streamsize>(std::min(sizeof buf, offset))).gcount() > 0) {
        size_t n = static_cast<size_t>(in.gcount());
        for (size_t i = 0; i < n; ++i) {
            if (buf[i] == '\n') line++, column = 0;
            else column++;
        }
        offset -= n;
    }
    return {line, column};
}

[[noreturn]] void throw_parse_error(const yaml_parser_t& p, std::istream& in, std::streampos start) {
    std::string what = p.problem ? p.problem : "unknown error";
    if (p.error == YAML_MEMORY_ERROR) throw std::bad_alloc();
    if (p.error == YAML_READER_ERROR) {
        if (p.problem_value != -1) {
            char v[16];
            std::snprintf(v, sizeof v, " (#x%X)", static_cast<unsigned>(p.problem_value));
            what += v;
        }
        auto [line, column] = locate(in, start, p.problem_offset);
        throw YamlError(line, column, what);
    }
    if (p.context)
        what += std::string(" (") + p.context + " at line " + std::to_string(p.context_mark.line + 1) + ", column " +
                std::to_string(p.context_mark.column + 1) + ")";
    throw YamlError(p.problem_mark.line, p.problem_mark.column, what);
}

}  // namespace

YamlNode load_yaml(std::istream& in, const YamlItemSink& sink) {
    const std::streampos start = in.tellg();
    Parser parser;
    yaml_parser_set_input(parser.get(), read_stream, &in);
    YamlTreeBuilder builder(sink);
    for (bool done = false; !done;) {
        Event ev;
        if (!yaml_parser_parse(parser.get(), &ev.e)) throw_parse_error(*parser.get(), in, start);
        done = builder.on_event(ev.e);
    }
    return builder.take_root();
}

}  // namespace hl
