// A string in 16 bytes: up to 15 characters inside it, longer ones on the
// heap. For names kept by the hundred thousand (a registration's id, 262,144
// of them at scale) where std::string's 32 bytes are half the record.
#pragma once

#include <compare>
#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

namespace hl {

class SmallString {
public:
    SmallString() { set_inline(0); }
    SmallString(std::string_view s) { assign(s); }          // NOLINT: implicit, as std::string's
    SmallString(const std::string& s) : SmallString(std::string_view(s)) {}  // NOLINT
    SmallString(const char* s) : SmallString(std::string_view(s)) {}        // NOLINT
    SmallString(const SmallString& o) : SmallString(o.view()) {}
    SmallString(SmallString&& o) noexcept {
        std::memcpy(b_, o.b_, sizeof b_);
        o.set_inline(0);
    }
    SmallString& operator=(const SmallString& o) {
        if (this != &o) {
            SmallString copy(o);
            *this = std::move(copy);
        }
        return *this;
    }
    SmallString& operator=(SmallString&& o) noexcept {
        if (this != &o) {
            release();
            std::memcpy(b_, o.b_, sizeof b_);
            o.set_inline(0);
        }
        return *this;
    }
    ~SmallString() { release(); }

    std::string_view view() const {
        if (on_heap()) return {heap_ptr(), heap_size()};
        return {b_, static_cast<size_t>(kInline - static_cast<uint8_t>(b_[kInline]))};
    }
    operator std::string_view() const { return view(); }  // NOLINT
    std::string str() const { return std::string(view()); }
    size_t size() const { return view().size(); }
    bool empty() const { return view().empty(); }

    friend bool operator==(const SmallString& a, const SmallString& b) { return a.view() == b.view(); }
    friend bool operator==(const SmallString& a, std::string_view b) { return a.view() == b; }
    friend std::strong_ordering operator<=>(const SmallString& a, const SmallString& b) { return a.view() <=> b.view(); }
    friend std::strong_ordering operator<=>(const SmallString& a, std::string_view b) { return a.view() <=> b; }
    // Exact matches, so that a std::string is not two conversions away.
    friend bool operator==(const SmallString& a, const std::string& b) { return a.view() == b; }
    friend std::strong_ordering operator<=>(const SmallString& a, const std::string& b) { return a.view() <=> b; }
    friend bool operator==(const SmallString& a, const char* b) { return a.view() == b; }
    // Joined into messages as a std::string would be.
    friend std::string operator+(std::string a, const SmallString& b) { return a.append(b.view()); }
    friend std::string operator+(const char* a, const SmallString& b) { return std::string(a).append(b.view()); }
    friend std::string operator+(const SmallString& a, std::string_view b) { return a.str().append(b); }
    friend std::string operator+(const SmallString& a, const char* b) { return a.str().append(b); }
    friend std::ostream& operator<<(std::ostream& os, const SmallString& s) { return os << s.view(); }

private:
    static constexpr size_t kInline = 15;      // characters held inside
    static constexpr uint8_t kHeap = 0xff;     // b_[15] when on the heap
    // Inline: the characters, then b_[15] = 15 - size (0 when 15 long, so it
    // is the terminating NUL too). Heap: pointer, then size (32 bits), then
    // b_[15] = kHeap.
    bool on_heap() const { return static_cast<uint8_t>(b_[kInline]) == kHeap; }
    const char* heap_ptr() const {
        const char* p;
        std::memcpy(&p, b_, sizeof p);
        return p;
    }
    size_t heap_size() const {
        uint32_t n;
        std::memcpy(&n, b_ + sizeof(char*), sizeof n);
        return n;
    }
    void set_inline(size_t n) {
        std::memset(b_ + n, 0, sizeof b_ - n);
        b_[kInline] = static_cast<char>(kInline - n);
    }
    void assign(std::string_view s) {
        if (s.size() <= kInline) {
            std::memcpy(b_, s.data(), s.size());
            set_inline(s.size());
            return;
        }
        auto* p = new char[s.size()];
        std::memcpy(p, s.data(), s.size());
        const auto n = static_cast<uint32_t>(s.size());
        std::memset(b_, 0, sizeof b_);
        std::memcpy(b_, &p, sizeof p);
        std::memcpy(b_ + sizeof p, &n, sizeof n);
        b_[kInline] = static_cast<char>(kHeap);
    }
    void release() {
        if (on_heap()) delete[] heap_ptr();
    }

    char b_[16];
};
static_assert(sizeof(SmallString) == 16);

}  // namespace hl
