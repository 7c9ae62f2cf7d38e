// The client's response head for an upstream's answer, as nginx builds it: the upstream
// module's copy of the upstream's headers (proxy_hide_header, proxy_pass_header,
// proxy_redirect), then nginx's header filter order (Server, Date, Content-Type,
// Content-Length, Last-Modified, a rewritten Location, framing, the rest as sent),
// `expires` and `add_header`.
#pragma once

#include "runtime/http/request.hpp"
#include "runtime/http/proxy/upstream_response.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace ngxlite::runtime {

// How the body goes to the client.
struct ClientFraming {
    int status = 200;        // the status sent (error_page's when it redirected here)
    bool chunked = false;    // re-chunked: its length is unknown, or add_trailer applies
    bool keep_alive = false;
};

std::string client_response_head(const UpstreamHead& head, const ir::Location& loc, const RequestContext& ctx,
                                 const ClientFraming& framing);

// The head of a 101 answer before its tunnel: nginx's own lines, then the upstream's.
std::string upgrade_response_head(const UpstreamHead& head, const ir::Location& loc);

// $upstream_http_*: the upstream's headers as one block, "Name: value\r\n" each.
std::string upstream_header_block(const UpstreamHead& head);

}  // namespace ngxlite::runtime
