// TLS to upstreams as nginx's ngx_http_upstream_ssl_init_connection and
// ngx_http_upstream_ssl_handshake do it: the name, SNI, the server's kept session, and
// the checks after the handshake.
#pragma once

#include "parser/ir/config.hpp"

#include <boost/system/error_code.hpp>
#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

class ServerSelector;
struct ConnectionInfo;

// A TLS session kept for one upstream server in one worker (nginx's peer->ssl_session).
using TlsSession = std::shared_ptr<SSL_SESSION>;

// An IPv4 or IPv6 address (brackets allowed), never sent as SNI (RFC 6066).
bool is_address(std::string name);

// Called once per client context before workers use it: new sessions are then saved
// where the connection's SSL says (see new_upstream_ssl).
void prepare_client_context(SSL_CTX* ctx);

// The name the upstream certificate is checked against and sent as SNI: proxy_ssl_name
// evaluated (`evaluated`, may be empty) or the proxied host, without a port.
std::string upstream_ssl_name(std::string_view evaluated, std::string_view proxied_host);

// A client SSL for one upstream connection: SNI when proxy_ssl_server_name is on and the
// name is not an address (RFC 6066), the kept session when proxy_ssl_session_reuse is
// on; sessions the server then issues are saved into `kept` (which must outlive the SSL).
SSL* new_upstream_ssl(const ir::SslClientSettings& settings, const std::string& name, TlsSession& kept);

// After the handshake, with proxy_ssl_verify on: "" or nginx's error text.
std::string verify_upstream(SSL* ssl, const ir::SslClientSettings& settings, const std::string& name);

// "CALL failed (SSL: error:...[:SSL alert number N])" as nginx logs a failed OpenSSL
// call (`call`: "SSL_do_handshake()", "SSL_read()"); "CALL failed (N: message)" for a
// system error (`call`: "connect()", "recv()").
std::string ssl_call_error(std::string_view call, const boost::system::error_code& ec);

// --- TLS termination (ngx_http_ssl_module) ---------------------------------------------

// Called once per server context before workers use it: SNI then picks the server's
// context (ngx_http_ssl_servername), ALPN offers HTTP/1.x, and certificates named by
// variables are loaded per handshake (ngx_http_ssl_certificate).
void prepare_server_context(const ir::SslServerSettings& settings);
// The same for a stream server's context: the client's SNI name is acknowledged, so TLS
// 1.2 sessions keep it and $ssl_server_name has it on resumption too, as with nginx; with
// ssl_alpn, the first of its names the client offers is chosen, and offering none fails.
void prepare_stream_server_context(const ir::SslServerSettings& settings);

// A server-side SSL for a connection to an address with `listen ... ssl`: its default
// server's context; the client's SNI is looked up among `selector`'s names. The
// selector, `connection` and `http` must outlive the SSL. Null when OpenSSL cannot make one.
SSL* new_server_ssl(const ServerSelector& selector, const ConnectionInfo& connection, const ir::HttpConfig& http);

// " while SSL handshaking, client: A, server: S:P": the tail of nginx's lines about a
// client's handshake (http and stream).
std::string handshake_log_tail(const ConnectionInfo& conn);

// Why a certificate named by variables failed this handshake (nginx's error line), or "".
std::string certificate_error(SSL* ssl);

// The first byte of a TLS (or SSLv2) ClientHello, as ngx_http_ssl_handshake tells TLS
// from plain HTTP on a TLS port.
constexpr bool starts_tls(unsigned char first) { return first == 0x16 || (first & 0x80) != 0; }

// ngx_http_ssl_module's checks before a request on a TLS connection is served, for the
// server the request's Host chose: 0, or 495 (certificate not verified), 496 (none sent
// where ssl_verify_client is on) or 421 (a Host other than the verified SNI), with the
// info line nginx logs in `log_line`.
int refuse_client(SSL* ssl, const ir::HttpServer& server, std::string_view host, std::string& log_line);

// The client certificate check alone (ngx_http_ssl_module's and ngx_stream_ssl_module's):
// 0, 495 or 496 with the info line nginx logs.
int check_client_certificate(SSL* ssl, ir::SslServerSettings::VerifyClient verify, std::string& log_line);

// $ssl_* (ngx_http_ssl_module's variables), by what they read.
enum class TlsVariable {
    protocol, cipher, ciphers, curve, curves, session_id, session_reused, server_name, alpn_protocol,
    client_verify, client_s_dn, client_i_dn, client_s_dn_legacy, client_i_dn_legacy, client_serial,
    client_fingerprint, client_cert, client_raw_cert, client_escaped_cert, client_v_start, client_v_end,
    client_v_remain,
};
// One of them of a connection; nullopt when the connection has no TLS.
std::optional<std::string> tls_variable(TlsVariable variable, SSL* ssl);

}  // namespace ngxlite::runtime
