// nginx's address syntax where no name is resolved (proxy_bind), shared by the
// compiler and the runtime, which reads such addresses from variables per session.
#pragma once

#include "parser/ir/config.hpp"

#include <optional>
#include <string_view>

namespace ngxlite::ir {

// ngx_parse_addr_port: "IPv4", "IPv6", "IPv4:port" or "[IPv6]:port" (port 1-65535; 0 when
// none is given); IPv4 as ngx_inet_addr reads it. nullopt where nginx declines.
std::optional<Endpoint> parse_addr_port(std::string_view text);

}  // namespace ngxlite::ir
