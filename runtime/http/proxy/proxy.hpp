// proxy_pass to an http upstream: nginx's request to the upstream, its choice of server
// (smooth weighted round robin, proxy_next_upstream), and the response streamed back.
#pragma once

#include "runtime/http/proxy/accel_redirect.hpp"
#include "runtime/core/active_config.hpp"
#include "runtime/http/client_body.hpp"
#include "runtime/http/proxy/proxy_relay.hpp"
#include "runtime/http/request.hpp"
#include "runtime/io/transport_stream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

namespace ngxlite::runtime {

struct ProxyResult {
    int error_status = 0;     // 502/504 before anything was sent: the caller answers it
    bool keep_alive = false;  // the client connection may serve another request
    bool client_closed = false;  // the client went away first: 499, nothing to send
    SentBytes sent;           // to the client
    std::uint64_t body_received = 0;  // from the upstream after the reads of its head
    // A streamed body that stopped coming (timed_out, closed): nothing is answered.
    BodyEnd body_end = BodyEnd::read;
    std::optional<AccelRedirect> accel;  // X-Accel-Redirect: the request goes on there
};

// Answers the request through the location's upstream, writing to `client`.
// `client_buffer` holds what the client sent past the request (an upgraded connection's
// first bytes). `streamed`: the rest of a body sent as it comes (proxy_request_buffering
// off); such a request goes to no other server once it was sent.
Task<ProxyResult> proxy_http(TransportStream& client, boost::beast::flat_buffer& client_buffer, const ir::Location& loc,
                             RequestContext& ctx, const ActiveConfig& cfg, bool client_keep_alive,
                             StreamedBody* streamed = nullptr);

// Ends when the client closes its side while its request waits (for the resolver, out an
// auth_delay): a readable socket with nothing to read. Bytes it sent on (a pipelined
// request) are no sign of that: the watch then waits to be cancelled.
Task<void> client_closes(TransportStream& client);

}  // namespace ngxlite::runtime
