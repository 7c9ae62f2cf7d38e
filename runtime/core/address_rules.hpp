// A client address against a list of CIDR rules: allow/deny and set_real_ip_from, http and
// stream alike.
#pragma once

#include "parser/ir/config.hpp"

#include <string_view>
#include <vector>

namespace ngxlite::runtime {

// The first allow/deny (or set_real_ip_from) rule matching the client address `addr`, or
// nullptr; a unix-domain peer ("unix:...") matches `unix:` and `all` (nginx's rules_un,
// ngx_cidr_match's AF_UNIX), an IPv4-mapped address the IPv4 rules. (http and stream)
const ir::AccessRule* first_match(const std::vector<ir::AccessRule>& rules, std::string_view addr);

}  // namespace ngxlite::runtime
