#include "metrics/text.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "metrics/histogram.h"

namespace hl::prom {

namespace {

const char* type_name(Type t) {
    switch (t) {
        case Type::Counter: return "counter";
        case Type::Gauge: return "gauge";
        case Type::Histogram: return "histogram";
    }
    return "untyped";
}

template <class T>
void number(std::string& out, T v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void dbl(std::string& out, double v) {
    if (std::isnan(v)) out += "NaN";
    else if (std::isinf(v)) out += v > 0 ? "+Inf" : "-Inf";
    else number(out, v);
}

void head(std::string& out, std::string_view name, std::string_view labels) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
}

}  // namespace

void family(std::string& out, std::string_view name, std::string_view help, Type type) {
    out += "# HELP ";
    out += name;
    out += ' ';
    for (char c : help) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type_name(type);
    out += '\n';
}

void label(std::string& labels, std::string_view key, std::string_view value) {
    if (!labels.empty()) labels += ',';
    labels += key;
    labels += "=\"";
    for (char c : value) {
        if (c == '\\') labels += "\\\\";
        else if (c == '"') labels += "\\\"";
        else if (c == '\n') labels += "\\n";
        else labels += c;
    }
    labels += '"';
}

void sample_unsigned(std::string& out, std::string_view name, std::string_view labels, uint64_t value) {
    head(out, name, labels);
    number(out, value);
    out += '\n';
}

void sample_signed(std::string& out, std::string_view name, std::string_view labels, int64_t value) {
    head(out, name, labels);
    number(out, value);
    out += '\n';
}

void sample(std::string& out, std::string_view name, std::string_view labels, double value) {
    head(out, name, labels);
    dbl(out, value);
    out += '\n';
}

void histogram(std::string& out, std::string_view name, std::string_view labels, const hl_hist& h) {
    uint64_t cum = 0;
    for (int i = 0; i < HL_HIST_BUCKETS; ++i) {
        cum += h.bucket[i];
        out += name;
        out += "_bucket{";
        out += labels;
        if (!labels.empty()) out += ',';
        out += "le=\"";
        dbl(out, hist_bound_us(i) / 1e6);  // the last is +Inf
        out += "\"} ";
        number(out, cum);
        out += '\n';
    }
    std::string n(name);
    sample(out, n + "_sum", labels, static_cast<double>(h.sum_us) / 1e6);
    sample(out, n + "_count", labels, cum);
}

void endpoint(std::string& out, const uint8_t addr[16], uint16_t port_net) {
    static constexpr uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char buf[INET6_ADDRSTRLEN] = {};
    const bool v4 = std::memcmp(addr, v4mapped, 12) == 0;
    inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? addr + 12 : addr, buf, sizeof buf);
    if (!v4) out += '[';
    out += buf;
    out += v4 ? ":" : "]:";
    number(out, ntohs(port_net));
}

}  // namespace hl::prom
