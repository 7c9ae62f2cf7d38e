// The auth_basic module (ngx_http_auth_basic_module): "Authorization: Basic" checked
// against an htpasswd file read on every request, and the credentials $remote_user names.
#pragma once

#include "runtime/core/active_config.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/http/request.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

// ngx_decode_base64: the standard alphabet, '=' ends it, a lone last sextet is invalid.
std::optional<std::string> decode_base64(std::string_view in);

// ngx_http_auth_basic_user: "Basic base64(user:password)", a user of at least one byte.
struct BasicCredentials {
    std::string user;
    std::string password;
};
std::optional<BasicCredentials> basic_credentials(const Request& req);

// What a handler of nginx's access phase returns: no say, let in, or a status.
inline constexpr int kAccessDeclined = -1;
inline constexpr int kAccessAllowed = 0;

// The location's auth_basic: declined without one (or a realm "off"), allowed for a user
// and password the file holds, else 401 with WWW-Authenticate added to `r`, 403 (no file)
// or 500, each logged as nginx logs it.
int auth_basic(const ir::Location& loc, const RequestContext& ctx, const ActiveConfig& cfg, Response& r);

}  // namespace ngxlite::runtime
