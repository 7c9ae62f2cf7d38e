// TLS to upstreams as nginx's ngx_http_upstream_ssl_init_connection and
// ngx_http_upstream_ssl_handshake do it: the name, SNI, the server's kept session, and
// the checks after the handshake.
#pragma once

#include "parser/ir/config.hpp"

#include <boost/system/error_code.hpp>
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

// A TLS session kept for one upstream server in one worker (nginx's peer->ssl_session).
using TlsSession = std::shared_ptr<SSL_SESSION>;

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

// "SSL_do_handshake() failed (SSL: error:...)" as nginx logs a failed handshake.
std::string handshake_error(const boost::system::error_code& ec);

}  // namespace ngxlite::runtime
