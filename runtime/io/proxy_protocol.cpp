#include "runtime/io/proxy_protocol.hpp"

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cctype>
#include <cstring>

namespace ngxlite::runtime {

namespace {

constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::size_t kV2HeaderSize = 16;  // signature, version and command, family and transport, length

std::uint16_t uint16_at(std::string_view s, std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(s[at]) << 8) | static_cast<unsigned char>(s[at + 1]));
}

// nginx 1.22 names every byte received (later versions stop at the first CR or LF).
ProxyProtocolRead broken(std::string_view bytes) {
    return {0, std::nullopt, "broken header: \"" + std::string(bytes) + "\""};
}

// ngx_proxy_protocol_read_addr: hex digits, ':' and '.', up to a space.
std::optional<std::string> v1_address(std::string_view& p) {
    for (std::size_t i = 0; i < p.size(); ++i) {
        const char ch = p[i];
        if (ch == ' ') {
            std::string addr(p.substr(0, i));
            p.remove_prefix(i + 1);
            return addr;
        }
        if (ch != ':' && ch != '.' && !std::isxdigit(static_cast<unsigned char>(ch))) return std::nullopt;
    }
    return std::nullopt;
}

// ngx_proxy_protocol_read_port: decimal digits up to `separator`, at most 65535.
std::optional<std::uint16_t> v1_port(std::string_view& p, char separator) {
    const auto end = p.find(separator);
    if (end == std::string_view::npos || end == 0) return std::nullopt;
    unsigned value = 0;
    for (std::size_t i = 0; i < end; ++i) {
        if (p[i] < '0' || p[i] > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(p[i] - '0');
        if (value > 65535) return std::nullopt;
    }
    p.remove_prefix(end + 1);
    return static_cast<std::uint16_t>(value);
}

ProxyProtocolRead read_v1(std::string_view bytes) {
    std::string_view p = bytes.substr(6);  // after "PROXY "
    if (p.starts_with("UNKNOWN")) {
        // Skipped up to the first CRLF, addresses or not.
        const auto crlf = p.find("\r\n", 7);
        if (crlf == std::string_view::npos) return broken(bytes);
        return {bytes.size() - p.size() + crlf + 2, std::nullopt, {}};
    }
    if (p.size() < 5 || !p.starts_with("TCP") || (p[3] != '4' && p[3] != '6') || p[4] != ' ') return broken(bytes);
    p.remove_prefix(5);
    ProxyProtocol pp;
    auto src = v1_address(p);
    auto dst = src ? v1_address(p) : std::nullopt;
    const auto src_port = dst ? v1_port(p, ' ') : std::nullopt;
    const auto dst_port = src_port ? v1_port(p, '\r') : std::nullopt;
    if (!dst_port || p.empty() || p.front() != '\n') return broken(bytes);
    pp.src_addr = std::move(*src);
    pp.dst_addr = std::move(*dst);
    pp.src_port = *src_port;
    pp.dst_port = *dst_port;
    return {bytes.size() - p.size() + 1, std::move(pp), {}};
}

template <std::size_t N>
std::string address_text(std::string_view raw) {
    std::array<unsigned char, N> bytes{};
    std::memcpy(bytes.data(), raw.data(), N);
    if constexpr (N == 4)
        return boost::asio::ip::address_v4(bytes).to_string();
    else
        return boost::asio::ip::address_v6(bytes).to_string();
}

// Addresses of `size` bytes each, then the two ports; what follows are TLVs.
template <std::size_t Size>
std::optional<ProxyProtocol> v2_addresses(std::string_view body) {
    if (body.size() < 2 * Size + 4) return std::nullopt;
    ProxyProtocol pp;
    pp.src_addr = address_text<Size>(body.substr(0, Size));
    pp.dst_addr = address_text<Size>(body.substr(Size, Size));
    pp.src_port = uint16_at(body, 2 * Size);
    pp.dst_port = uint16_at(body, 2 * Size + 2);
    pp.tlvs = std::string(body.substr(2 * Size + 4));
    return pp;
}

ProxyProtocolRead read_v2(std::string_view bytes) {
    const unsigned version = static_cast<unsigned char>(bytes[12]) >> 4;
    if (version != 2) return {0, std::nullopt, "unknown PROXY protocol version: " + std::to_string(version)};
    const std::size_t length = uint16_at(bytes, 14);
    if (bytes.size() - kV2HeaderSize < length) return {0, std::nullopt, "header is too large"};
    const std::size_t total = kV2HeaderSize + length;
    const std::string_view body = bytes.substr(kV2HeaderSize, length);
    const unsigned command = static_cast<unsigned char>(bytes[12]) & 0x0f;
    const unsigned transport = static_cast<unsigned char>(bytes[13]) & 0x0f;
    if (command != 1 || transport != 1) return {total, std::nullopt, {}};  // only PROXY over STREAM is read
    std::optional<ProxyProtocol> pp;
    switch (static_cast<unsigned char>(bytes[13]) >> 4) {
    case 1: pp = v2_addresses<4>(body); break;
    case 2: pp = v2_addresses<16>(body); break;
    default: return {total, std::nullopt, {}};  // AF_UNSPEC, unix: skipped
    }
    // Addresses longer than the header says: nginx closes the connection without a word.
    if (!pp) return {0, std::nullopt, {}};
    return {total, std::move(pp), {}};
}

}  // namespace

ProxyProtocolRead read_proxy_protocol(std::string_view bytes) {
    if (bytes.size() >= kV2HeaderSize && bytes.starts_with(kV2Signature)) return read_v2(bytes);
    if (bytes.size() < 8 || !bytes.starts_with("PROXY ")) return broken(bytes);
    return read_v1(bytes);
}

}  // namespace ngxlite::runtime
