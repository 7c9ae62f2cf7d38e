#include "runtime/upstream/connector.hpp"

#include "parser/ir/address.hpp"
#include "parser/ir/tls_files.hpp"
#include "runtime/io/unix_socket.hpp"
#include "runtime/tls/tls.hpp"

#include <boost/asio/write.hpp>

#include <netinet/in.h>

namespace ngxlite::runtime {

namespace {

// ngx_event_connect_peer's text for a connect or handshake that outlived its timer.
constexpr std::string_view kTimedOut = "upstream timed out (110: Connection timed out)";

ConnectResult& fail(ConnectResult& result, ConnectStep step, boost::system::error_code ec, std::string error,
                    LogLevel level = LogLevel::error) {
    result.failed = step;
    result.ec = ec;
    result.error = std::move(error);
    result.level = level;
    return result;
}

// ngx_event_connect_peer's bind: no port given leaves the choice of one to connect()
// (IP_BIND_ADDRESS_NO_PORT), so many connections can share the address.
boost::system::error_code bind_local(WorkerSocket& socket, const ir::Endpoint& local) {
    boost::system::error_code ec;
    if (local.port == 0) {
        const int on = 1;
        ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);  // best effort, as nginx
    }
    socket.bind(tcp::endpoint(asio::ip::make_address(local.ip), local.port), ec);
    return ec;
}

// The socket opened before its connect() as ngx_event_connect_peer opens it: non-blocking
// (the connect then sets nothing; stream's splice(2) needs it too), SO_KEEPALIVE with
// proxy_socket_keepalive, bound with proxy_bind; TCP_NODELAY once connected.
Task<ConnectResult> connect_tcp(TransportStream& upstream, const ir::Endpoint& peer, const ConnectSettings& settings) {
    ConnectResult result;
    const tcp::endpoint address(asio::ip::make_address(peer.ip), peer.port);
    WorkerSocket& socket = upstream.socket();
    boost::system::error_code ec;
    socket.open(address.protocol(), ec);
    if (!ec) socket.non_blocking(true, ec);
    if (!ec && settings.socket_keepalive) {
        boost::system::error_code ignored;  // a TCP socket does not refuse it
        socket.set_option(asio::socket_base::keep_alive(true), ignored);
    }
    if (!ec && settings.local.endpoint)
        if (const auto bec = bind_local(socket, *settings.local.endpoint))
            co_return fail(result, ConnectStep::bind, bec, ssl_call_error("bind(" + settings.local.name + ")", bec), LogLevel::crit);
    std::tie(ec) = co_await upstream.timed().async_connect(address, use_tuple);
    if (ec) co_return fail(result, ConnectStep::connect, ec, ec == beast::error::timeout ? std::string(kTimedOut) : ssl_call_error("connect()", ec));
    socket.set_option(tcp::no_delay(true), ec);
    co_return result;
}

// ngx_http_upstream_ssl_init_connection and _handshake (the stream module's alike): the
// client SSL with the name and the peer's kept session, a certificate named by
// variables, the handshake still under proxy_connect_timeout, then the checks; a
// certificate that fails them ends the attempt before any byte of the caller's is sent.
Task<ConnectResult> start_tls(TransportStream& upstream, Peer& peer, const UpstreamTls& tls, ConnectResult result) {
    SSL* ssl = new_upstream_ssl(*tls.settings, tls.name, peer.tls_session);
    if (!ssl) co_return fail(result, ConnectStep::ssl_new, {}, "SSL_new() failed");
    upstream.start_tls(ssl);
    if (!tls.certificate.empty()) {
        std::string error = ir::use_connection_certificate(ssl, tls.certificate, tls.key, tls.settings->passwords,
                                                           tls.settings->certificate_value->conf_prefix);
        if (!error.empty()) co_return fail(result, ConnectStep::certificate, {}, std::move(error));
    }
    auto [ec] = co_await upstream.async_handshake(TransportStream::TlsRole::client, use_tuple);
    if (ec)
        co_return fail(result, ConnectStep::handshake, ec,
                       ec == beast::error::timeout ? std::string(kTimedOut) : ssl_call_error("SSL_do_handshake()", ec));
    if (std::string refused = verify_upstream(ssl, *tls.settings, tls.name); !refused.empty())
        co_return fail(result, ConnectStep::handshake, {}, std::move(refused));
    co_return result;
}

}  // namespace

LocalAddress local_address(const std::optional<ir::ProxyBind>& bind, const RequestContext& vars) {
    if (!bind) return {};
    if (!bind->value) return {bind->address, bind->name};
    LocalAddress local{std::nullopt, expand(*bind->value, vars)};
    if (!local.name.empty()) local.endpoint = ir::parse_addr_port(local.name);
    return local;
}

UpstreamTls upstream_tls(const ir::SslClientSettings& settings, const RequestContext& vars, std::string_view proxied_host) {
    UpstreamTls tls{&settings, upstream_ssl_name(settings.name.empty() ? std::string() : expand(settings.name_template, vars), proxied_host),
                    {}, {}};
    // proxy_ssl_certificate with variables (ngx_http_upstream_ssl_certificate): an empty
    // certificate presents none.
    if (settings.certificate_value) {
        tls.certificate = expand(settings.certificate_value->certificate, vars);
        if (!tls.certificate.empty()) tls.key = expand(settings.certificate_value->key, vars);
    }
    return tls;
}

Task<ConnectResult> connect_peer(TransportStream& upstream, Peer& peer, const ConnectSettings& settings) {
    const ir::Endpoint& endpoint = *peer.endpoint;
    upstream.expires_after(settings.timeout);
    ConnectResult result;
    if (endpoint.unix_socket) {
        // A unix connect() completes or fails at once; nginx's level depends on why.
        if (const auto ec = connect_unix(upstream.socket(), endpoint.ip))
            co_return fail(result, ConnectStep::connect, ec, ssl_call_error("connect() to " + endpoint.text(), ec),
                           connect_failure_is_critical(ec.value()) ? LogLevel::crit : LogLevel::error);
    } else {
        result = co_await connect_tcp(upstream, endpoint, settings);
        if (!result.connected()) co_return result;
    }
    if (!settings.tls.settings) co_return result;
    if (!settings.before_tls.empty()) {  // ngx_stream_proxy_send_proxy_protocol: nginx logs no line of its own
        auto [ec, n] = co_await asio::async_write(upstream, asio::buffer(settings.before_tls), use_tuple);
        result.sent = n;
        if (ec) co_return fail(result, ConnectStep::before_tls, ec, {});
    }
    co_return co_await start_tls(upstream, peer, settings.tls, std::move(result));
}

}  // namespace ngxlite::runtime
