// `ngxlite -t --lint`: what nginx accepts but leaves TLS to upstreams weaker than it
// looks. Plain -t stays nginx's; these are extra warnings, each with file and line.
#pragma once

#include "parser/ir/config.hpp"

#include <string>
#include <vector>

namespace ngxlite::tools {

// One line per finding, "... in FILE:LINE", in the configuration's order:
// - an https upstream (proxy_pass https://, stream proxy_ssl on) without proxy_ssl_verify on;
// - proxy_ssl_server_name off while the name checked is a host name (no SNI is sent);
// - a proxy_ssl_trusted_certificate file holding a CA chain longer than
//   proxy_ssl_verify_depth allows;
// - TLSv1 or TLSv1.1 in proxy_ssl_protocols or ssl_protocols, which the linked OpenSSL
//   refuses at its default security level.
std::vector<std::string> lint_tls(const ir::Config& config);

}  // namespace ngxlite::tools
