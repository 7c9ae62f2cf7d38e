// The proxy module's rewriting of upstream response header values: proxy_redirect on
// Location and Refresh, proxy_cookie_domain, _path and _flags on Set-Cookie (ngx_http_proxy_module.c).
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/http/request.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

// proxy_redirect on a Location value: the first rule that fits rewrites it; nullopt when
// none does.
std::optional<std::string> rewrite_location(const ir::ProxySettings& p, std::string_view value, const RequestContext& ctx);

// The value another upstream header goes out with, when the proxy module rewrites it:
// Refresh's URL (after "url=") by proxy_redirect, Set-Cookie by proxy_cookie_domain, _path and _flags.
std::optional<std::string> rewrite_header(const ir::ProxySettings& p, std::string_view name, std::string_view value,
                                          const RequestContext& ctx);

}  // namespace ngxlite::runtime
