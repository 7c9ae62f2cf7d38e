#include "runtime/http/proxy/proxy_answer.hpp"

#include "runtime/http/filters/gzip_filter.hpp"
#include "runtime/http/filters/header_filter.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/http/response.hpp"
#include "runtime/http/proxy/proxy_response.hpp"
#include "runtime/core/text.hpp"

#include <algorithm>
#include <cstring>

namespace ngxlite::runtime {

namespace {

constexpr std::string_view kMoreThanLength = "upstream sent more data than specified in \"Content-Length\" header";
constexpr std::string_view kAfterLastChunk = "upstream sent data after final chunk";
constexpr std::string_view kInvalidChunked = "upstream sent invalid chunked response";

// Logs how a relay that did not finish ended; false then: the client connection closes.
bool relay_finished(const Exchange& ex, const RelayEnd& end) {
    switch (end.kind) {
    case RelayEnd::Kind::complete: return true;
    case RelayEnd::Kind::after_last: ex.log(LogLevel::warn, kAfterLastChunk); return true;
    case RelayEnd::Kind::client_failed: return false;
    case RelayEnd::Kind::invalid_chunked: ex.log(LogLevel::error, kInvalidChunked); return false;
    case RelayEnd::Kind::upstream_failed:
        ex.log(LogLevel::error, end.error == beast::error::timeout ? "upstream timed out (110: Connection timed out)"
                                                                   : "upstream prematurely closed connection");
        return false;
    }
    return false;
}

// An upstream that failed mid-body ends the answer with nginx's flush (the upstream
// module's ngx_http_send_special FLUSH): what gzip holds goes out; the body stays unfinished.
Task<void> flush_after_failure(BodyFilters& client, const RelayEnd& end) {
    if (end.kind == RelayEnd::Kind::upstream_failed || end.kind == RelayEnd::Kind::invalid_chunked)
        (void)co_await client.flush_held();
}

// The body's bytes that came with the head (ngx_http_proxy_input_filter_init and the
// input filters' first call): how many go on with the head (chunked framing taken out in
// place), whether the body ends there, and what they say against reusing the connection.
struct FirstPiece {
    std::size_t size = 0;
    bool last = false;
    bool reusable = true;
    bool invalid = false;  // broken chunked framing: nothing is sent
};

FirstPiece first_piece(const Exchange& ex, BodyFraming framing, const UpstreamHead& head, char* body, std::size_t extra,
                       ChunkedParser& chunks) {
    FirstPiece first;
    switch (framing) {
    case BodyFraming::none:  // a HEAD's answer is not read on: no warning
        first.last = true;
        first.reusable = extra == 0 || ex.ctx.request.method == "HEAD";
        if (!first.reusable) ex.log(LogLevel::warn, kMoreThanLength);
        break;
    case BodyFraming::length:
        first.size = static_cast<std::size_t>(std::min<std::uint64_t>(extra, *head.content_length()));
        first.last = first.size == *head.content_length();
        first.reusable = extra == first.size;
        if (!first.reusable) ex.log(LogLevel::warn, kMoreThanLength);
        break;
    case BodyFraming::chunked: {
        const Dechunked d = dechunk(chunks, body, extra);
        first.invalid = d.status == Dechunked::Status::invalid;
        if (first.invalid) ex.log(LogLevel::error, kInvalidChunked);
        first.size = d.data;
        first.last = d.status == Dechunked::Status::done;
        first.reusable = !d.after_last;
        if (d.after_last) ex.log(LogLevel::warn, kAfterLastChunk);
        break;
    }
    case BodyFraming::until_close:
        first.size = extra;
        first.reusable = false;
        break;
    }
    return first;
}

// nginx's u->buffering: proxy_buffering, unless the upstream's X-Accel-Buffering says
// otherwise.
bool buffering(const ir::ProxySettings& p, const UpstreamHead& head) {
    if (p.change_buffering)
        if (const auto accel = head.find("X-Accel-Buffering")) {
            if (iequal(*accel, "yes")) return true;
            if (iequal(*accel, "no")) return false;
        }
    return p.buffering;
}

// Whether the body goes a full buffer at a time: a buffered one, unless chunked, which
// still goes chunk by chunk, as nginx's chunked filter passes each buffer that ends a chunk.
bool holds_body(bool buffered, BodyFraming framing) {
    return buffered && (framing == BodyFraming::length || framing == BodyFraming::until_close);
}

// The rest of the body after the first piece, as it comes.
Task<RelayEnd> relay_rest(Relay& relay, BodyFraming framing, char* buffer, std::uint64_t length_left, ChunkedParser& chunks) {
    // Statements, not a conditional expression: GCC 12 miscompiles co_await in one.
    if (framing == BodyFraming::length) co_return co_await relay_length(relay, buffer, length_left);
    if (framing == BodyFraming::chunked) co_return co_await relay_chunked(relay, buffer, chunks);
    co_return co_await relay_until_close(relay, buffer);
}

}  // namespace

Task<HeadRead> read_head(TransportStream& upstream, BodyBuffer& buffer, UpstreamHead& head, ir::Msec timeout) {
    HeadRead read;
    for (;;) {
        upstream.expires_after(timeout);
        // Once the limit is reached, step() has decided.
        auto [ec, n] = co_await upstream.async_read_some(
            asio::buffer(buffer.data() + read.received, head.limit() - read.received), use_tuple);
        read.received += n;
        read.step = head.step({buffer.data(), read.received});
        if (read.step != UpstreamHead::Step::incomplete) co_return read;
        if (ec) {
            read.error = ec;
            co_return read;
        }
    }
}

// The answer relayed to the client as ngx_http_upstream_send_response and the proxy
// module's input filters relay it: the head with the body's bytes that came with it in
// one write (nothing at all when they break the chunked framing), then the rest. True
// when the upstream connection may serve another request (nginx's u->keepalive).
Task<bool> send_response(const Exchange& ex, const Answer& answer, bool client_keep_alive) {
    const UpstreamHead& head = answer.head;
    RequestContext& ctx = ex.ctx;
    const bool http09 = answer.read.step == UpstreamHead::Step::http09;
    const BodyFraming framing = body_framing(head, ctx.request.method == "HEAD");
    const bool unknown_length = framing == BodyFraming::chunked || framing == BodyFraming::until_close;
    // The upstream's headers as headers_out, then the header filters every answer goes
    // through: headers (expires, add_header), chunked, the header filter's writer.
    ResponseHead out_head(head.headers().get_allocator().resource());
    upstream_headers_out(out_head, head, ex.loc, ctx);
    const std::time_t now = std::time(nullptr);  // one clock reading for Date and Expires
    add_location_headers(out_head, ex.loc, ctx, now);
    if (http09) ctx.status = out_head.status = 9;  // nginx's $status of an answer without a status line
    gzip_header_filter(out_head, ex.loc, ctx, true);
    const bool gzipped = out_head.gzip.settings != nullptr;
    const bool keep_alive = chunked_filter(out_head, unknown_length || gzipped, ex.loc, ctx.request) && client_keep_alive;
    const bool trailers = out_head.chunked && expects_trailers(ex.loc, ctx.status);
    std::string out = serialize_head(out_head, keep_alive, ex.loc, now);
    ctx.sent_head = nullptr;  // out_head ends here: $sent_http_* reads the head as it went

    char* const body = answer.buffer + head.size();
    ChunkedParser chunks;
    const FirstPiece first = first_piece(ex, framing, head, body, answer.read.received - head.size(), chunks);
    bool reusable = first.reusable && !head.connection_close() && head.status() != 101;
    // An HTTP/0.9 client, or an HTTP/0.9 answer, gets the body alone.
    const bool headless = ctx.request.version == 9 || http09;
    const bool buffered = buffering(*ex.loc.proxy, head);
    if (!buffered) ctx.limit_rate = 0;  // as nginx: limit_rate paces buffered answers only
    const bool head_only = ctx.request.method == "HEAD";  // nginx's header_only: no body to gzip
    BodyFilters client(ex.client, ctx, ex.loc, ex.cfg, headless ? std::string_view() : out, out_head.chunked,
                       head_only ? GzipStart{} : out_head.gzip);
    client.upstream_parts(!buffered);
    Relay relay{client, ex.upstream, ex.loc.proxy->read_timeout};
    struct Counted {  // what the relay read and sent, however it ends
        const Relay& relay;
        const Exchange& ex;
        ~Counted() {
            ex.result.body_received = relay.received;
            ex.result.sent = {relay.client.sent(), relay.client.body_sent()};
        }
    } counted{relay, ex};
    if (trailers)
        client.trailers = [&ex, &relay, first_bytes = answer.read.received - head.size()] {
            ex.ctx.upstream_length_now = first_bytes + relay.received;  // the body is all in
            return trailer_block(ex.loc, ex.ctx, ex.ctx.status);
        };
    if (holds_body(buffered, framing) && !first.last) {
        const ir::ProxySettings& p = *ex.loc.proxy;
        HeldBody held{first.size,
                      static_cast<std::size_t>(std::max<std::int64_t>(1, p.buffer_size - static_cast<std::int64_t>(head.size()))),
                      static_cast<std::size_t>(std::max<std::int64_t>(1, p.buffers_size)), answer.capacity, std::nullopt};
        if (framing == BodyFraming::length) held.left = *head.content_length() - first.size;
        held.size = std::min(held.size, held.capacity);
        std::memmove(answer.buffer, body, first.size);
        const RelayEnd end = co_await relay_held(relay, answer.buffer, held);
        ctx.sent_header_block = std::move(out);
        if (!relay_finished(ex, end)) {
            co_await flush_after_failure(client, end);
            co_return false;
        }
        ex.result.keep_alive = keep_alive;
        co_return reusable && end.kind == RelayEnd::Kind::complete;
    }
    bool sent = false;
    if (!first.invalid) sent = !co_await client.write({body, first.size}, first.last);
    ctx.sent_header_block = std::move(out);
    if (!sent) co_return false;
    if (!first.last) {
        const std::uint64_t length_left = framing == BodyFraming::length ? *head.content_length() - first.size : 0;
        const RelayEnd end = co_await relay_rest(relay, framing, answer.buffer, length_left, chunks);
        if (!relay_finished(ex, end)) {
            co_await flush_after_failure(client, end);
            co_return false;
        }
        reusable = reusable && end.kind == RelayEnd::Kind::complete;
    }
    ex.result.keep_alive = keep_alive;
    co_return reusable;
}

}  // namespace ngxlite::runtime
