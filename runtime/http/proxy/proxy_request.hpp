// nginx's request to an upstream (ngx_http_proxy_create_request): its URI, its head and
// body; and proxy_pass with variables, its URL evaluated per request.
#pragma once

#include "runtime/core/active_config.hpp"
#include "runtime/http/client_body.hpp"
#include "runtime/http/request.hpp"
#include "runtime/io/transport_stream.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

// The request line's URI (ngx_http_proxy_create_request): the received one when neither
// proxy_pass has a URI part nor a rewrite changed it; else the current URI, escaped, with
// proxy_pass's URI part in place of the location's prefix (unless `rewrite ... break`).
std::string upstream_uri(const ir::ProxySettings& p, const ir::Location& loc, const Request& req);

// The request for the upstream: line, proxy_set_header's and the client's headers, then
// the body (of a streamed one, what has come so far). The head carries proxy_set_body's
// or a chunked body's framing; the client's body as it is stays a view, sent after the
// head rather than copied behind it.
struct UpstreamRequest {
    std::string head;
    std::string_view body;
};
UpstreamRequest build_request(const ir::ProxySettings& p, const std::string& uri, RequestContext& ctx);

// How sending a streamed body ended: the body's end (`read`: all of it went), or the
// upstream write that failed.
struct StreamedSend {
    BodyEnd body = BodyEnd::read;
    boost::system::error_code write_error;
};

// proxy_request_buffering off: the rest of the body, sent as it comes
// (ngx_http_upstream_send_request_body): what each read brought in one write, for a
// chunked body in one chunk (ngx_http_proxy_body_output_filter), the last with the end.
Task<StreamedSend> send_streamed_body(TransportStream& upstream, StreamedBody& body, bool chunked, ir::Msec timeout);

struct VariableTarget {
    const ir::UpstreamGroup* group = nullptr;  // a group of the config, or `literal`; neither: `error`
    std::optional<ir::UpstreamGroup> literal;  // an address: a group of its own
    std::string uri;                           // the URL's URI part, sent as it is
    bool https = false;
    int error = 0;
    std::string resolve;  // neither: a host name for the location's resolver
    std::uint16_t port = 0;
};

// proxy_pass with variables (ngx_http_proxy_eval + ngx_http_upstream_init_request): the
// URL's host is an upstream {} name (no port given), an implicit group of the same
// host and port, or an address; else a name for the location's resolver (`resolve`), or
// nginx's "no resolver defined" and 502 without one.
VariableTarget resolve_variable_pass(const ir::ProxySettings& p, RequestContext& ctx, const ir::HttpConfig& http,
                                     const ActiveConfig& cfg);

}  // namespace ngxlite::runtime
