// The PROXY protocol header a `listen ... proxy_protocol` connection starts with, read as
// nginx 1.22.1 reads it (ngx_proxy_protocol_read): v1 text or v2 binary, all of it in the
// bytes first received.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

// $proxy_protocol_addr and friends: the addresses as the header has them (v1: the text
// as sent; v2: printed as nginx prints a socket address).
struct ProxyProtocol {
    std::string src_addr;
    std::string dst_addr;
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    std::string tlvs;  // v2: the TLVs after the addresses, as received
};

struct ProxyProtocolRead {
    // The header's length: the bytes to take before the client's own. 0: broken, and
    // `error` says why in nginx's words (the connection is closed).
    std::size_t length = 0;
    // Empty for UNKNOWN and for v2's LOCAL command, other transports and families:
    // nginx skips those and keeps the connection's own addresses.
    std::optional<ProxyProtocol> header;
    std::string error;
};

ProxyProtocolRead read_proxy_protocol(std::string_view bytes);

}  // namespace ngxlite::runtime
