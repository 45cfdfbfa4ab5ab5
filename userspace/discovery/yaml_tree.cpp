#include "discovery/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <optional>
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

// Mirrors yaml-cpp's NodeBuilder (what YAML::Load uses), node for node.
class YamlTreeBuilder : public YAML::EventHandler {
public:
    explicit YamlTreeBuilder(const YamlItemSink& sink) : sink_(sink) {}

    YamlNode take_root() { return have_root_ ? std::move(root_) : YamlNode(YamlNode::Kind::Null); }

    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark&, YAML::anchor_t anchor) override {
        complete(YamlNode(YamlNode::Kind::Null), anchor);
    }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        // yaml-cpp's alias is the anchored node itself; a copy reads the same,
        // except inside that node, where yaml-cpp makes a cycle. No config
        // with one is valid (every path of the schema ends in a scalar), so
        // it is rejected here, before anything half-built is read.
        if (anchor >= anchors_.size() || !anchors_[anchor])
            throw YAML::ParserException(mark, "an alias inside the node it names (a cycle) is not supported");
        complete(*anchors_[anchor], 0);
    }
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
        YamlNode n(YamlNode::Kind::Scalar);
        n.scalar_ = value;
        complete(std::move(n), anchor);
    }
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value) override {
        open(YamlNode::Kind::Sequence, anchor);
        stack_.back().node.streamed_ = anchor == 0 && is_streamed_list();
    }
    void OnSequenceEnd() override { close(); }
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value) override {
        open(YamlNode::Kind::Map, anchor);
    }
    void OnMapEnd() override { close(); }

private:
    struct Open {
        YamlNode node;
        YAML::anchor_t anchor = 0;  // registered when the node is complete
        size_t streamed_items = 0;
    };

    void open(YamlNode::Kind kind, YAML::anchor_t anchor) { stack_.push_back({YamlNode(kind), anchor, 0}); }

    void close() {
        Open top = std::move(stack_.back());
        stack_.pop_back();
        // A key whose value never came is not a pair (NodeBuilder drops it).
        if (top.node.is_map() && top.node.children_.size() % 2) top.node.children_.pop_back();
        complete(std::move(top.node), top.anchor);
    }

    // A finished node goes into the collection being built, or is the root.
    void complete(YamlNode n, YAML::anchor_t anchor) {
        if (anchor) {
            if (anchors_.size() <= anchor) anchors_.resize(anchor + 1);
            anchors_[anchor] = n;
        }
        if (stack_.empty()) {
            root_ = std::move(n);
            have_root_ = true;
            return;
        }
        Open& parent = stack_.back();
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
    std::vector<std::optional<YamlNode>> anchors_;
    YamlNode root_;
    bool have_root_ = false;
};

YamlNode load_yaml(std::istream& in, const YamlItemSink& sink) {
    YAML::Parser parser(in);
    YamlTreeBuilder builder(sink);
    if (!parser.HandleNextDocument(builder)) return YamlNode(YamlNode::Kind::Null);
    return builder.take_root();
}

}  // namespace hl
