#include "common/small_string.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

using hl::SmallString;

TEST(SmallString, HoldsShortAndLongStringsAsGiven) {
    for (size_t n : {0, 1, 14, 15, 16, 17, 100}) {
        const std::string want(n, 'x');
        SmallString s(want);
        EXPECT_EQ(s.view(), want) << n;
        EXPECT_EQ(s.size(), n);
        EXPECT_EQ(s.str(), want);
        EXPECT_EQ(s.empty(), n == 0);
    }
}

TEST(SmallString, CopiesAndMovesKeepTheCharacters) {
    for (const std::string want : {"e1", "exactly-15-char", "a-registration-id-longer-than-fifteen"}) {
        SmallString a(want);
        SmallString b(a);
        EXPECT_EQ(b, a);
        SmallString c(std::move(a));
        EXPECT_EQ(c.view(), want);
        EXPECT_TRUE(a.empty());  // NOLINT: moved-from is empty
        SmallString d("other");
        d = c;
        EXPECT_EQ(d.view(), want);
        d = SmallString("0123456789abcdefghij");
        EXPECT_EQ(d.view(), "0123456789abcdefghij");
        d = d;  // NOLINT: self-assignment keeps it
        EXPECT_EQ(d.view(), "0123456789abcdefghij");
        std::vector<SmallString> v(3, c);
        v.erase(v.begin());
        for (const auto& x : v) EXPECT_EQ(x.view(), want);
    }
}

TEST(SmallString, ComparesAsStdStringDoes) {
    const std::vector<std::string> words{"", "a", "ab", "b", "e10", "e9", "zzzzzzzzzzzzzzzz-long", "zzzzzzzzzzzzzzzzz"};
    for (const auto& x : words)
        for (const auto& y : words) {
            EXPECT_EQ(SmallString(x) == SmallString(y), x == y);
            EXPECT_EQ(SmallString(x) < SmallString(y), x < y) << x << " " << y;
            EXPECT_EQ(SmallString(x) < y, x < y);
            EXPECT_EQ(SmallString(x) == y, x == y);
        }
    EXPECT_EQ("id '" + SmallString("e1") + "'", "id 'e1'");
    EXPECT_EQ(std::string("x") + SmallString("0123456789abcdefghij"), "x0123456789abcdefghij");
}
