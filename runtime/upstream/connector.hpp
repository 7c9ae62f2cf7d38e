// One connection to a chosen upstream peer, for http's proxy_pass and stream's alike:
// proxy_bind, the connect (TCP or unix:), the PROXY protocol header, TLS with SNI, a
// client certificate and the checks after the handshake (nginx's ngx_event_connect_peer,
// ngx_http_upstream_ssl_init_connection and ngx_stream_proxy_ssl_init_connection).
//
// It logs nothing and decides nothing about other peers: the failure says what failed and
// nginx's words for it, and each caller writes its own line (http's and stream's tails
// differ) and applies its own proxy_next_upstream, as nginx's two modules do.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/core/logs.hpp"
#include "runtime/core/net.hpp"
#include "runtime/http/request.hpp"
#include "runtime/io/transport_stream.hpp"
#include "runtime/upstream/upstream.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

// proxy_bind for one request or session (ngx_http_upstream_set_local,
// ngx_stream_proxy_set_local): the static address, or the value with variables evaluated.
struct LocalAddress {
    std::optional<ir::Endpoint> endpoint;  // none: bind none
    std::string name;                      // as evaluated, for "bind(NAME) failed"
    // A value that is no address: not bound, and logged by the caller as nginx does
    // ("invalid local address").
    bool invalid() const { return !endpoint && !name.empty(); }
};
LocalAddress local_address(const std::optional<ir::ProxyBind>& bind, const RequestContext& vars);

// TLS to the upstream with the values of one request or session.
struct UpstreamTls {
    const ir::SslClientSettings* settings = nullptr;  // null: in the clear
    std::string name;                                 // checked against the certificate and sent as SNI
    std::string certificate, key;                     // proxy_ssl_certificate with variables; empty: none of them
};
// TLS as `settings` say: proxy_ssl_name evaluated (default: `proxied_host`) and a
// certificate named by variables (an empty one presents none).
UpstreamTls upstream_tls(const ir::SslClientSettings& settings, const RequestContext& vars, std::string_view proxied_host);

// How every attempt of one request or session connects.
struct ConnectSettings {
    LocalAddress local;
    ir::Msec timeout{};  // proxy_connect_timeout: the connect and the TLS handshake together
    bool socket_keepalive = false;
    // Bytes written in the clear before the TLS handshake (stream's proxy_protocol with
    // proxy_ssl); without TLS the caller sends its PROXY header with its first bytes.
    std::string before_tls{};
    UpstreamTls tls{};
};

// Where an attempt stopped.
enum class ConnectStep { none, bind, connect, before_tls, ssl_new, certificate, handshake };

struct ConnectResult {
    ConnectStep failed = ConnectStep::none;  // none: connected, and through TLS when asked
    boost::system::error_code ec;            // of the call that failed, if one did
    std::string error;                       // nginx's text for the failure, without its action; "": none
    LogLevel level = LogLevel::error;        // nginx's level for that text
    std::size_t sent = 0;                    // bytes of `before_tls` written

    bool connected() const { return failed == ConnectStep::none; }
    bool timed_out() const { return ec == beast::error::timeout; }
    // nginx's action for the failure's log line ("... while connecting to upstream").
    std::string_view action() const {
        return failed == ConnectStep::ssl_new || failed == ConnectStep::handshake ? "SSL handshaking to upstream"
                                                                                 : "connecting to upstream";
    }
};

// Connects `upstream` (a new, unopened stream) to `peer` as `settings` say. The caller
// holds the stream from the start, so it can cancel the attempt (a client that left,
// worker_shutdown_timeout); an attempt cancelled so fails with the cancelling error.
Task<ConnectResult> connect_peer(TransportStream& upstream, Peer& peer, const ConnectSettings& settings);

}  // namespace ngxlite::runtime
