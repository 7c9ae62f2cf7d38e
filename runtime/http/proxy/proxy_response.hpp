// The client's response head for an upstream's answer: the upstream module's copy of the
// upstream's headers (proxy_hide_header, proxy_pass_header, proxy_redirect) into the
// response head the header filters read; a 101's head before its tunnel; the
// $upstream_http_* block.
#pragma once

#include "runtime/http/filters/response_head.hpp"
#include "runtime/http/request.hpp"
#include "runtime/http/proxy/upstream_response.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace ngxlite::runtime {

// ngx_http_upstream_process_headers: the upstream's head as the client's headers_out,
// for the header filters: the status (and its line, kept unless error_page's status
// answers), Content-Type, Content-Length, Location after proxy_redirect, and the headers
// passed (proxy_hide_header, proxy_pass_header) in the upstream's order,
// proxy_cookie_* applied. Views into the upstream's buffer, which outlives `out`.
void upstream_headers_out(ResponseHead& out, const UpstreamHead& head, const ir::Location& loc, const RequestContext& ctx);

// The head of a 101 answer before its tunnel: nginx's own lines, then the upstream's.
std::string upgrade_response_head(const UpstreamHead& head, const ir::Location& loc);

// $upstream_http_*: the upstream's headers as one block, "Name: value\r\n" each.
std::string upstream_header_block(const UpstreamHead& head);

}  // namespace ngxlite::runtime
