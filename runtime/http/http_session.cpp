#include "runtime/http/http_session.hpp"

#include "runtime/http/connection.hpp"
#include "runtime/http/request_head.hpp"
#include "runtime/http/response.hpp"
#include "runtime/tls/ocsp.hpp"
#include "runtime/tls/tls.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>

#include <array>

namespace ngxlite::runtime {

Task<void> finish_writing(TransportStream& stream, std::chrono::milliseconds send_timeout) {
    if (stream.tls_handle()) {
        stream.expires_after(send_timeout);
        co_await stream.async_close_notify(use_tuple);
    }
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}


namespace {

void await_request(std::unique_ptr<HttpConnection> c);

// Plain operator new: Asio recycles handler memory for std::allocator, not for this.
template <class T>
struct ExactAllocator {
    using value_type = T;
    ExactAllocator() = default;
    template <class U>
    ExactAllocator(const ExactAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
    template <class U>
    bool operator==(const ExactAllocator<U>&) const noexcept { return true; }
};

// nginx's lines for a connection closed where a pipelined request line was expected: the
// info line and an access-log line for an empty request answered 400.
void log_pipelined_close(const HttpConnection& c) {
    Request req;
    RequestContext ctx(c.conn, req);
    ctx.variables = &c.cfg->ir->http->variables;
    ctx.server = &c.selector->default_server();
    ctx.status = 400;
    c.cfg->log_for(ctx).write(LogLevel::info,
                              "client prematurely closed connection while reading client pipelined request line" + describe(ctx),
                              c.conn.id);
    c.cfg->access_logs->write(ctx.server->root_location.access_logs, c.cfg->ir->http->log_formats, ctx, &c.cfg->log_for(ctx));
}

// A connection's busy spell: requests, pipelined or not, until none is waiting in the
// buffer; then it waits idle without this frame and without a buffer (nginx frees its
// buffer too). `readable`: the socket has bytes (or TLS may have a record) to read now.
Task<void> serve_connection(std::unique_ptr<HttpConnection> c, bool readable) {
    TransportStream& stream = c->stream;
    beast::flat_buffer buffer;
    bool pipelined = false;  // the next request was in the buffer behind the last one
    for (;;) {
        // nginx ignores empty lines before a request line (after a body, say).
        while (buffer.size() > 0) {
            const char ch = *static_cast<const char*>(buffer.data().data());
            if (ch != '\r' && ch != '\n') break;
            buffer.consume(1);
        }
        if (buffer.size() == 0 && pipelined) {
            // Only empty lines followed the last request: nginx reads on for its next
            // request line rather than waiting idle, and a close is a request cut short.
            stream.expires_after(c->header_timeout);
            auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kHeaderBuffer), use_tuple);
            buffer.commit(n);
            if (ec == asio::error::eof) log_pipelined_close(*c);
            if (ec) co_return;
            continue;
        }
        if (buffer.size() == 0) {
            if (c->worker.stopping && c->conn.requests > 0) co_return;
            // Nothing known to be there: the connection waits idle, without this frame
            // (the wait's first try sees a next request a busy client has sent already).
            if (!readable && !stream.tls_buffered()) break;
            readable = false;
            if (stream.tls_handle()) {
                // A TLS record may arrive in pieces: its read waits for the rest.
                auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kHeaderBuffer), use_tuple);
                if (ec) co_return;  // closed by the client, or the wait's deadline passed
                buffer.commit(n);
                continue;
            }
            boost::system::error_code ec;
            const std::size_t n = stream.socket().read_some(buffer.prepare(kHeaderBuffer), ec);
            if (ec == asio::error::would_block) break;
            if (ec) co_return;  // closed by the client: nothing to answer
            buffer.commit(n);
            continue;
        }
        readable = false;
        if (!co_await serve_request(*c, buffer, pipelined)) co_return;
        pipelined = buffer.size() > 0;
    }
    await_request(std::move(c));
}

// Between requests a connection holds no coroutine and no buffer: the wait's handler owns
// it, and the timeout closes it, or QUIT once a request was served (a new connection is
// not idle in nginx's sense: its first request is served, even after QUIT). Both kinds
// may make room at worker_connections.
void await_request(std::unique_ptr<HttpConnection> c) {
    TimedStream& stream = c->stream.timed();
    const bool kept_alive = c->conn.requests > 0;
    (kept_alive ? c->worker.idle : c->worker.fresh).push_back(stream);
    stream.expires_after(c->idle_timeout);
    // Sized to the wait itself: Asio's recycled blocks would hand it a larger one, kept
    // for as long as the connection idles.
    const asio::mutable_buffer first = asio::buffer(&c->peeked, 1);  // before `c` moves into the handler
    stream.async_peek(first, asio::bind_allocator(ExactAllocator<void>(), [c = std::move(c), kept_alive](const boost::system::error_code& ec, std::size_t) mutable {
        c->stream.timed().unlist();
        if (ec || (kept_alive && c->worker.stopping)) return;  // closed by the client, the timeout or QUIT
        const auto ex = c->stream.get_executor();
        asio::co_spawn(ex, serve_connection(std::move(c), true), asio::detached);
    }));
}

// A connection to a `listen ... ssl` address (ngx_http_ssl_handshake): its first byte
// tells a TLS handshake from plain HTTP, which is read and answered 400; the handshake
// and the first request share the default server's client_header_timeout.
Task<void> start_tls_connection(std::unique_ptr<HttpConnection> c) {
    TransportStream& stream = c->stream;
    const auto started = std::chrono::steady_clock::now();
    stream.expires_after(c->header_timeout);
    auto [pec, n] = co_await stream.timed().async_peek(asio::buffer(&c->peeked, 1), use_tuple);
    if (pec || n == 0) co_return;  // closed before a byte came
    if (!starts_tls(static_cast<unsigned char>(c->peeked))) {
        c->plain_http = true;
        co_await serve_connection(std::move(c), true);
        co_return;
    }
    SSL* ssl = new_server_ssl(*c->selector, c->conn, *c->cfg->ir->http);
    // The address's default server's error_log, as nginx's connection log before a request.
    const ErrorLog& log = c->cfg->log(c->selector->default_server().root_location.error_log);
    if (!ssl) {
        log.write(LogLevel::alert, "SSL_new() failed", c->conn.id);
        co_return;
    }
    stream.start_tls(ssl);
    auto [hec] = co_await stream.async_handshake(TransportStream::TlsRole::server, use_tuple);
    if (hec) {
        const std::string context = handshake_log_tail(c->conn);
        if (const std::string error = certificate_error(ssl); !error.empty())
            log.write(LogLevel::error, error + context, c->conn.id);
        // nginx logs most handshake failures at info (ngx_ssl_connection_error).
        log.write(LogLevel::info, ssl_call_error("SSL_do_handshake()", hec) + context, c->conn.id);
        co_return;
    }
    if (wants_client_ocsp(ssl)) {
        // ngx_ssl_ocsp_validate: the client's certificates are checked before its request
        // is read, within the handshake's time (client_header_timeout).
        OcspClientEnv env{stream.get_executor(), &c->worker.timers, c->cfg.get(), &log, c->conn.id, handshake_log_tail(c->conn)};
        const OcspValidation v = co_await validate_client_ocsp(ssl, std::move(env), started + c->header_timeout);
        if (v == OcspValidation::timed_out)
            log.write(LogLevel::info, "client timed out (110: HttpConnection timed out)" + handshake_log_tail(c->conn), c->conn.id);
        if (v != OcspValidation::done) co_return;
    }
    c->conn.ssl = ssl;
    co_await serve_connection(std::move(c), true);
}

// A connection to a `listen ... proxy_protocol` address (ngx_http_wait_request_handler,
// ngx_http_ssl_handshake): the header must be whole in the first bytes that come. They
// are peeked, the header is taken from the socket, and the connection goes on as any.
Task<void> start_proxy_protocol_connection(std::unique_ptr<HttpConnection> c) {
    TransportStream& stream = c->stream;
    stream.expires_after(c->header_timeout);
    std::array<char, kHeaderBuffer> bytes;
    auto [pec, n] = co_await stream.timed().async_peek(asio::buffer(bytes), use_tuple);
    if (pec || n == 0) co_return;  // closed before a byte came, or the timeout
    ProxyProtocolRead pp = read_proxy_protocol({bytes.data(), n});
    if (pp.length == 0) {
        if (!pp.error.empty())
            c->cfg->log(c->selector->default_server().root_location.error_log)
                .write(LogLevel::error,
                       pp.error + " while reading PROXY protocol, client: " + c->conn.remote_addr + ", server: " +
                           c->conn.server_text(),
                       c->conn.id);
        co_return;
    }
    boost::system::error_code ec;
    asio::read(stream.socket(), asio::buffer(bytes.data(), pp.length), ec);  // received already
    if (ec) co_return;
    if (pp.header) c->conn.proxy_protocol = std::make_shared<const ProxyProtocol>(std::move(*pp.header));
    if (c->selector->tls)
        co_await start_tls_connection(std::move(c));
    else if (n > pp.length)
        co_await serve_connection(std::move(c), true);
    else
        await_request(std::move(c));
}

}  // namespace

void serve_http(WorkerSocket socket, WorkerState& worker, ConnectionInfo conn, const ServerSelector& selector) {
    auto c = std::make_unique<HttpConnection>(worker, worker.config, std::move(conn), selector, std::move(socket));
    if (selector.proxy_protocol) {
        const auto ex = c->stream.get_executor();
        asio::co_spawn(ex, start_proxy_protocol_connection(std::move(c)), asio::detached);
    } else if (selector.tls) {
        const auto ex = c->stream.get_executor();
        asio::co_spawn(ex, start_tls_connection(std::move(c)), asio::detached);
    } else
        await_request(std::move(c));
}

}  // namespace ngxlite::runtime
