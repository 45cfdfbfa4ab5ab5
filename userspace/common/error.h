// One error convention for libhopless: functions that can fail return
// Result<T> (or Status). An Error carries a message that names what failed
// and the errno captured at the failing call, never read later.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace hl {

struct Error {
    std::string message;
    int err = 0;  // errno at the failing call, 0 when not a syscall failure

    std::string what() const {
        if (err == 0) return message;
        return message + ": " + std::strerror(err);
    }
};

// Captures errno now, at the call that failed.
inline Error sys_error(std::string message, int err = errno) { return Error{std::move(message), err}; }

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error e) : v_(std::move(e)) {}

    bool ok() const { return std::holds_alternative<T>(v_); }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    const Error& error() const { return std::get<Error>(v_); }

private:
    std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace hl
