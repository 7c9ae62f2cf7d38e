// The upstream's answer (nginx's ngx_http_upstream_process_header and
// ngx_http_upstream_send_response): its head read into a buffer of proxy_buffer_size,
// then relayed to the client through the proxy module's input filters.
#pragma once

#include "runtime/core/active_config.hpp"
#include "runtime/http/response.hpp"
#include "runtime/core/logs.hpp"
#include "runtime/core/net.hpp"
#include "runtime/http/proxy/proxy.hpp"
#include "runtime/http/proxy/proxy_relay.hpp"
#include "runtime/http/request.hpp"
#include "runtime/io/transport_stream.hpp"
#include "runtime/http/proxy/upstream_response.hpp"

#include <string>
#include <string_view>

namespace ngxlite::runtime {

// A response head as it came: nginx reads it into a buffer of proxy_buffer_size, in
// reads that may bring the body's first bytes too (a 64 KiB body then goes on in reads
// of its own, the next running while the last is written).
struct HeadRead {
    UpstreamHead::Step step = UpstreamHead::Step::incomplete;
    std::size_t received = 0;          // bytes in the buffer, the head's first
    boost::system::error_code error;   // the connection failed before the head was whole
};

// Reads the head, bounded by `timeout` between reads.
Task<HeadRead> read_head(TransportStream& upstream, BodyBuffer& buffer, UpstreamHead& head, ir::Msec timeout);

// One request's exchange with the upstream that answered it.
struct Exchange {
    TransportStream& client;
    TransportStream& upstream;
    const ir::Location& loc;
    RequestContext& ctx;
    const ActiveConfig& cfg;
    const std::string& peer_url;
    ProxyResult& result;

    void log(LogLevel level, std::string_view what) const {
        cfg.log_for(ctx).write(level, std::string(what) + " while reading upstream" + describe(ctx, peer_url), ctx.connection.id);
    }
};

// The upstream's answer, read into `buffer`: its head, then the body's first bytes.
struct Answer {
    const UpstreamHead& head;
    const HeadRead& read;
    char* buffer;
    std::size_t capacity;
};

// The answer relayed to the client as ngx_http_upstream_send_response and the proxy
// module's input filters relay it: the head with the body's bytes that came with it in
// one write (nothing at all when they break the chunked framing), then the rest. True
// when the upstream connection may serve another request (nginx's u->keepalive).
Task<bool> send_response(const Exchange& ex, const Answer& answer, bool client_keep_alive);

}  // namespace ngxlite::runtime
