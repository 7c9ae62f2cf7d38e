#include "runtime/http/client_body.hpp"

#include "runtime/http/response.hpp"

#include <openssl/ssl.h>

#include <algorithm>

namespace ngxlite::runtime {

namespace {

BodyEnd body_end(RequestBody::Status status) {
    switch (status) {
    case RequestBody::Status::read: return BodyEnd::read;
    case RequestBody::Status::too_large: return BodyEnd::too_large;
    case RequestBody::Status::invalid: return BodyEnd::invalid;
    case RequestBody::Status::more: break;
    }
    return BodyEnd::more;
}

// One read of the body's bytes into `buffer`, bounded by client_body_timeout.
Task<BodyEnd> read_more(TransportStream& stream, beast::flat_buffer& buffer, const ir::Location& loc, std::size_t size) {
    stream.expires_after(loc.client_body_timeout);
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(size), use_tuple);
    buffer.commit(n);
    if (ec == beast::error::timeout) co_return BodyEnd::timed_out;
    if (ec) co_return BodyEnd::closed;
    co_return BodyEnd::more;
}

// Bytes the client has sent that a read takes without waiting (nginx's c->read->ready).
bool ready(TransportStream& stream) {
    boost::system::error_code ec;
    if (stream.tls_handle() && SSL_has_pending(stream.tls_handle())) return true;
    return stream.socket().available(ec) > 0 && !ec;
}

}  // namespace

std::string_view received_bytes(const beast::flat_buffer& buffer) {
    return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

RequestBody::Status take_buffered(beast::flat_buffer& buffer, RequestBody& body, const ir::Location& loc, RequestContext& ctx,
                                  const ActiveConfig& cfg, std::string* into) {
    std::string_view in = received_bytes(buffer);
    const std::size_t received = in.size();
    const auto limit = into ? static_cast<std::uint64_t>(std::max<std::int64_t>(loc.client_max_body_size, 0)) : 0;
    const RequestBody::Status status = body.take(in, into, limit);
    buffer.consume(received - in.size());
    ctx.request.length += received - in.size();
    if (status == RequestBody::Status::invalid)
        cfg.log_for(ctx).write(LogLevel::error, "client sent invalid chunked body" + describe(ctx), ctx.connection.id);
    if (status == RequestBody::Status::too_large)
        cfg.log_for(ctx).write(LogLevel::error,
                               "client intended to send too large chunked body: " + body.too_large_sizes() + " bytes" + describe(ctx),
                               ctx.connection.id);
    return status;
}

Task<BodyEnd> read_body(TransportStream& stream, beast::flat_buffer& buffer, RequestBody& body, const ir::Location& loc,
                        RequestContext& ctx, const ActiveConfig& cfg, bool keep) {
    for (;;) {
        if (const BodyEnd end = body_end(take_buffered(buffer, body, loc, ctx, cfg, keep ? &ctx.request.body : nullptr));
            end != BodyEnd::more)
            co_return end;
        if (const BodyEnd end = co_await read_more(stream, buffer, loc, 16 * 1024); end != BodyEnd::more) co_return end;
    }
}

bool streams_body(const ir::ProxySettings& p, bool chunked) {
    return !p.request_buffering && !p.set_body && p.pass_request_body && (!chunked || p.http_version_minor == 1);
}

Task<BodyEnd> read_ready_body(TransportStream& stream, beast::flat_buffer& buffer, RequestBody& body, const ir::Location& loc,
                              RequestContext& ctx, const ActiveConfig& cfg) {
    for (;;) {
        if (const BodyEnd end = body_end(take_buffered(buffer, body, loc, ctx, cfg, &ctx.request.body)); end != BodyEnd::more)
            co_return end;
        if (!ready(stream)) co_return BodyEnd::more;
        if (const BodyEnd end = co_await read_more(stream, buffer, loc, 16 * 1024); end != BodyEnd::more) co_return end;
    }
}

Task<BodyEnd> StreamedBody::next(std::string& out) {
    const auto size = static_cast<std::size_t>(std::max<std::int64_t>(loc_.client_body_buffer_size, 1));
    for (;;) {
        if (buffer_.size() > 0) {
            const std::size_t before = out.size();
            if (const BodyEnd end = body_end(take_buffered(buffer_, body_, loc_, ctx_, cfg_, &out)); end != BodyEnd::more)
                co_return end;
            if (out.size() > before) co_return BodyEnd::more;
        }
        if (const BodyEnd end = co_await read_more(stream_, buffer_, loc_, size); end != BodyEnd::more) co_return end;
    }
}

}  // namespace ngxlite::runtime
