// Prometheus text exposition (format 0.0.4), appended to a string: a
// family's HELP and TYPE lines, samples, the kernel's histograms. No
// objects per series: a scrape writes each line as it reads the value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "hopless/abi.h"

namespace hl::prom {

enum class Type { Counter, Gauge, Histogram };

// "# HELP name help" (help escaped) and "# TYPE name type".
void family(std::string& out, std::string_view name, std::string_view help, Type type);

// Appends `key="value"` to a label list (a comma first unless it is empty),
// the value escaped (backslash, double quote, newline).
void label(std::string& labels, std::string_view key, std::string_view value);

// "name{labels} value" (no braces for empty labels). Integers are written
// exactly; doubles in their shortest form that reads back the same.
void sample_unsigned(std::string& out, std::string_view name, std::string_view labels, uint64_t value);
void sample_signed(std::string& out, std::string_view name, std::string_view labels, int64_t value);
void sample(std::string& out, std::string_view name, std::string_view labels, double value);
template <class T>
    requires std::is_integral_v<T>
void sample(std::string& out, std::string_view name, std::string_view labels, T value) {
    if constexpr (std::is_signed_v<T>) sample_signed(out, name, labels, static_cast<int64_t>(value));
    else sample_unsigned(out, name, labels, static_cast<uint64_t>(value));
}

// A histogram of the kernel's fixed buckets (abi.h HL_HIST_BOUND_US), in
// seconds: name_bucket{labels,le="..."} cumulative, the last le="+Inf",
// then name_sum and name_count.
void histogram(std::string& out, std::string_view name, std::string_view labels, const hl_hist& h);

// "ADDR:PORT" ("[V6]:PORT") of an address as the maps hold it (v4 stored
// v4-mapped) and a port in network byte order.
void endpoint(std::string& out, const uint8_t addr[16], uint16_t port_net);

}  // namespace hl::prom
