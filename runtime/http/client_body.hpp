// The client's request body read as ngx_http_request_body.c reads it: whole before the
// handler runs (kept for proxy_pass, dropped for the others), or, with
// proxy_request_buffering off, passed upstream as it comes.
#pragma once

#include "runtime/core/active_config.hpp"
#include "runtime/core/net.hpp"
#include "runtime/http/request.hpp"
#include "runtime/http/request_head.hpp"
#include "runtime/io/transport_stream.hpp"

#include <boost/beast/core/flat_buffer.hpp>

#include <string>
#include <string_view>

namespace ngxlite::runtime {

// How reading a body ended: `more` only for a body still coming (streamed).
enum class BodyEnd { more, read, too_large, invalid, timed_out, closed };

std::string_view received_bytes(const boost::beast::flat_buffer& buffer);

// Takes what the buffer holds of the body (appended to `into`, or dropped when it is
// null), logging nginx's refusals; what follows the body stays in the buffer.
// client_max_body_size bounds a chunked body that is kept.
RequestBody::Status take_buffered(boost::beast::flat_buffer& buffer, RequestBody& body, const ir::Location& loc,
                                  RequestContext& ctx, const ActiveConfig& cfg, std::string* into);

// Reads the rest of the body, waiting client_body_timeout between reads, as nginx.
Task<BodyEnd> read_body(TransportStream& stream, boost::beast::flat_buffer& buffer, RequestBody& body, const ir::Location& loc,
                        RequestContext& ctx, const ActiveConfig& cfg, bool keep);

// proxy_request_buffering off (nginx's request_body_no_buffering): proxy_set_body unset,
// the body passed, and a chunked one only to an HTTP/1.1 upstream.
bool streams_body(const ir::ProxySettings& p, bool chunked);

// ngx_http_read_client_request_body in that mode: the bytes that came with the head and
// those already waiting are kept; `more` when the rest is still to come (it then goes
// upstream as it comes), `read` when the body is whole (nginx buffers it then).
Task<BodyEnd> read_ready_body(TransportStream& stream, boost::beast::flat_buffer& buffer, RequestBody& body,
                              const ir::Location& loc, RequestContext& ctx, const ActiveConfig& cfg);

// The rest of a streamed body, for the upstream request (ngx_http_read_unbuffered_request_body).
class StreamedBody {
public:
    StreamedBody(TransportStream& stream, boost::beast::flat_buffer& buffer, RequestBody& body, const ir::Location& loc,
                 RequestContext& ctx, const ActiveConfig& cfg)
        : stream_(stream), buffer_(buffer), body_(body), loc_(loc), ctx_(ctx), cfg_(cfg) {}

    // The body's next bytes, out of their chunked framing, appended to `out`: what one
    // read brought (up to client_body_buffer_size), waiting client_body_timeout for it.
    // `read` once the body is whole.
    Task<BodyEnd> next(std::string& out);

private:
    TransportStream& stream_;
    boost::beast::flat_buffer& buffer_;
    RequestBody& body_;
    const ir::Location& loc_;
    RequestContext& ctx_;
    const ActiveConfig& cfg_;
};

}  // namespace ngxlite::runtime
