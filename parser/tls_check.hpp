// The TLS work nginx does while loading a configuration (ngx_event_openssl.c): build
// each SSL_CTX once, load certificates, keys, CA files, CRLs, DH parameters, so that
// `-t` fails exactly where nginx fails, with OpenSSL's errors in nginx's format.
#pragma once

#include "parser/ir/config.hpp"

#include <functional>
#include <memory>
#include <string>

namespace ngxlite::conf {

using Warn = std::function<void(std::string)>;

// ngx_http_ssl_merge_srv_conf: a server's context, built and checked as nginx does (paths
// already made absolute). The client's certificate never fails the handshake: the
// runtime checks the result per request, as nginx. With ssl_stapling, `s.staples` gets
// each certificate's (its file's response, or its issuer and responder); with ssl_ocsp,
// `s.ocsp_responder` the parsed ssl_ocsp_responder.
std::shared_ptr<ssl_ctx_st> build_server_tls(ir::SslServerSettings& s, const Warn& warn);

// ngx_http_proxy_set_ssl / ngx_stream_proxy_set_ssl: the upstream connections' context.
// With verification on, the peer is verified but the handshake never fails for it (the
// runtime checks the result and the name afterwards and logs them as nginx does).
std::shared_ptr<ssl_ctx_st> build_client_tls(const ir::SslClientSettings& s, const std::string& directive_prefix);

// Whether an ssl_conf_command's value names a file or a directory (Certificate, ChainCAFile...):
// nginx makes those relative to the configuration's prefix, as ssl_certificate.
bool conf_command_takes_path(const std::string& command);

}  // namespace ngxlite::conf
