// hl::IpAddress <-> Boost.Asio addresses; the socket hygiene Asio leaves to us.
#pragma once

#include <utility>  // before asio: boost 1.74 awaitable.hpp misses it under C++20
#include <boost/asio/ip/address.hpp>

#include <fcntl.h>

#include <cstring>

#include "model/address.h"

namespace hl::dns {

inline boost::asio::ip::address to_asio(const IpAddress& a) {
    if (a.is_v4()) return boost::asio::ip::address_v4(a.v4_host_order());
    boost::asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), a.bytes().data(), 16);
    return boost::asio::ip::address_v6(b);
}

inline IpAddress from_asio(const boost::asio::ip::address& a) {
    if (a.is_v4()) return IpAddress::v4(a.to_v4().to_uint());
    auto b = a.to_v6().to_bytes();
    return IpAddress::from_bytes(b.data());
}

// Asio opens and accepts sockets without O_CLOEXEC: a program the daemon
// starts must not inherit them.
inline void set_cloexec(int fd) {
    if (fd >= 0) (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

}  // namespace hl::dns
