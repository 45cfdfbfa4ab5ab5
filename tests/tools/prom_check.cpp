// prom_check: reads Prometheus text on stdin and checks it with the unit
// tests' strict parser (tests/unit/prom_parse.h). Prints "N families, M
// samples" and exits 0, or the first problem and its line and exits 1. The
// e2e tests run a real scrape of hoplessd through it.
#include <iostream>
#include <iterator>
#include <string>

#include "prom_parse.h"

int main() {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    auto p = promtest::parse(text);
    if (!p.error.empty()) {
        std::cerr << "prom_check: line " << p.error_line << ": " << p.error << "\n";
        return 1;
    }
    std::cout << p.families.size() << " families, " << p.samples() << " samples\n";
    return 0;
}
