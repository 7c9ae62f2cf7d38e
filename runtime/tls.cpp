#include "runtime/tls.hpp"

#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

namespace ngxlite::runtime {

namespace {

// The SSL's slot for its connection's kept session.
int session_slot_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// ngx_ssl_new_client_session: the newest session replaces the kept one.
int save_session(SSL* ssl, SSL_SESSION* session) {
    auto* kept = static_cast<TlsSession*>(SSL_get_ex_data(ssl, session_slot_index()));
    if (!kept) return 0;
    *kept = TlsSession(session, SSL_SESSION_free);
    return 1;  // the reference is ours
}

bool is_address(const std::string& name) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

void prepare_client_context(SSL_CTX* ctx) { SSL_CTX_sess_set_new_cb(ctx, save_session); }

std::string upstream_ssl_name(std::string_view evaluated, std::string_view proxied_host) {
    std::string name(evaluated.empty() ? proxied_host : evaluated);
    // As ngx_http_upstream_ssl_name: a name from $proxy_host or $http_host may carry a port.
    if (const auto colon = name.rfind(':'); colon != std::string::npos && name.find(']') == std::string::npos &&
                                            name.find(':') == colon)
        name.resize(colon);
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
    return name;
}

SSL* new_upstream_ssl(const ir::SslClientSettings& settings, const std::string& name, TlsSession& kept) {
    SSL* ssl = SSL_new(settings.context.get());
    if (!ssl) return nullptr;
    SSL_set_connect_state(ssl);
    if (settings.server_name && !name.empty() && !is_address(name)) SSL_set_tlsext_host_name(ssl, name.c_str());
    if (settings.session_reuse) {
        SSL_set_ex_data(ssl, session_slot_index(), &kept);
        if (kept) SSL_set_session(ssl, kept.get());
    }
    return ssl;
}

std::string verify_upstream(SSL* ssl, const ir::SslClientSettings& settings, const std::string& name) {
    if (!settings.verify) return {};
    const long rc = SSL_get_verify_result(ssl);
    if (rc != X509_V_OK)
        return "upstream SSL certificate verify error: (" + std::to_string(rc) + ":" + X509_verify_cert_error_string(rc) + ")";
    // ngx_ssl_check_host: X509_check_host on the name as it is, addresses included.
    X509* cert = SSL_get1_peer_certificate(ssl);
    const bool match = cert && !name.empty() && X509_check_host(cert, name.data(), name.size(), 0, nullptr) == 1;
    X509_free(cert);
    if (!match) return "upstream SSL certificate does not match \"" + name + "\"";
    return {};
}

std::string handshake_error(const boost::system::error_code& ec) {
    std::string msg = "SSL_do_handshake() failed";
    if (ec.category() == boost::asio::error::get_ssl_category()) {
        char buf[256];
        ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
        return msg + " (SSL: " + buf + ")";
    }
    return msg + " (" + std::to_string(ec.value()) + ": " + ec.message() + ")";
}

}  // namespace ngxlite::runtime
