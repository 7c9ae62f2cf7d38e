// X-Accel-Redirect from an upstream (ngx_http_upstream_process_headers): the upstream is
// done with, the headers nginx keeps for such a redirect go to the answer, and the
// request goes on to the URI the header names (or a named location), as a GET.
#pragma once

#include "runtime/core/active_config.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/http/request.hpp"
#include "runtime/http/proxy/upstream_response.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ngxlite::runtime {

// What an X-Accel-Redirect answer leaves for the request: the redirect and the headers
// ngx_http_upstream_headers_in marks `redirect` (Content-Type apart, as nginx keeps it).
struct AccelRedirect {
    std::string target;  // the header's value
    std::string upstream;  // the upstream's URL, for the error log
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;  // Set-Cookie, Content-Disposition, ...
};

AccelRedirect accel_redirect(std::string_view target, const UpstreamHead& head, std::string upstream);

// ngx_http_parse_unsafe_uri on a redirect's URI: split at '?', unescaped (then checked
// again), refused (nullopt, with nginx's error line) when empty, starting with '?', or
// holding a NUL or a ".." segment.
std::optional<Redirect> safe_redirect(const AccelRedirect& accel, const RequestContext& ctx, const ActiveConfig& cfg);

// X-Accel-Limit-Rate's value when it is a number (ngx_atoi).
std::optional<std::uint64_t> accel_limit_rate(const UpstreamHead& head);

}  // namespace ngxlite::runtime
