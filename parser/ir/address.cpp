#include "parser/ir/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstdint>
#include <string>

namespace ngxlite::ir {

namespace {

// ngx_inet_addr: four dot-separated decimals of at most 255 (an empty one is 0);
// 255.255.255.255 is its INADDR_NONE, so refused too.
std::optional<std::uint32_t> inet_addr(std::string_view text) {
    std::uint32_t addr = 0, octet = 0;
    int dots = 0;
    for (char c : text) {
        if (c >= '0' && c <= '9') {
            octet = octet * 10 + static_cast<std::uint32_t>(c - '0');
            if (octet > 255) return std::nullopt;
        } else if (c == '.') {
            addr = addr << 8 | octet;
            octet = 0;
            ++dots;
        } else {
            return std::nullopt;
        }
    }
    if (dots != 3) return std::nullopt;
    addr = addr << 8 | octet;
    if (addr == 0xffffffffu) return std::nullopt;
    return addr;
}

// ngx_parse_addr: an IPv4 or IPv6 address, in canonical text.
std::optional<Endpoint> parse_addr(std::string_view text) {
    char buf[INET6_ADDRSTRLEN];
    if (const auto v4 = inet_addr(text)) {
        const in_addr a{htonl(*v4)};
        ::inet_ntop(AF_INET, &a, buf, sizeof buf);
        return Endpoint{buf, 0, false};
    }
    in6_addr a6{};
    if (::inet_pton(AF_INET6, std::string(text).c_str(), &a6) != 1) return std::nullopt;
    ::inet_ntop(AF_INET6, &a6, buf, sizeof buf);
    return Endpoint{buf, 0, true};
}

}  // namespace

std::optional<Endpoint> parse_addr_port(std::string_view text) {
    if (auto bare = parse_addr(text)) return bare;
    std::string_view addr, port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
        addr = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        addr = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    int number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535)
        return std::nullopt;
    auto e = parse_addr(addr);
    if (e) e->port = static_cast<std::uint16_t>(number);
    return e;
}

}  // namespace ngxlite::ir
