#include "runtime/tls/tls.hpp"

#include "runtime/tls/ocsp.hpp"
#include "runtime/http/request.hpp"
#include "runtime/http/router.hpp"
#include "runtime/core/text.hpp"
#include "runtime/io/transport_stream.hpp"

#include "parser/ir/tls_files.hpp"

#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <cerrno>
#include <ctime>

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

}  // namespace

bool is_address(std::string name) {
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
    unsigned char buf[16];
    return ::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

void prepare_client_context(SSL_CTX* ctx) { SSL_CTX_sess_set_new_cb(ctx, save_session); }

std::string upstream_ssl_name(std::string_view evaluated, std::string_view proxied_host) {
    std::string name(evaluated.empty() ? proxied_host : evaluated);
    // As ngx_http_upstream_ssl_name: a name from $proxy_host or $http_host may carry a port.
    if (const auto colon = name.rfind(':'); colon != std::string::npos && name.find(']') == std::string::npos &&
                                            name.find(':') == colon)
        name.resize(colon);
    else if (const auto bracket = name.find("]:"); name.starts_with('[') && bracket != std::string::npos)
        name.resize(bracket + 1);  // "[::1]:8443": an IPv6 literal, never sent as SNI
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
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (!cert || name.empty() || X509_check_host(cert, name.data(), name.size(), 0, nullptr) != 1) return "upstream SSL certificate does not match \"" + name + "\"";
    return {};
}

boost::system::error_code tls_call_error(int ssl_error, bool reading) {
    const auto ssl_category = [](unsigned long e) { return boost::system::error_code(static_cast<int>(e), boost::asio::error::get_ssl_category()); };
    switch (ssl_error) {
    case SSL_ERROR_NONE:
        return {};
    case SSL_ERROR_ZERO_RETURN:
        return boost::asio::error::eof;
    case SSL_ERROR_SYSCALL:
        if (const unsigned long e = ERR_get_error()) return ssl_category(e);
        if (errno != 0) return {errno, boost::system::system_category()};
        return boost::asio::ssl::error::stream_truncated;
    default:
        if (const unsigned long e = ERR_get_error()) {
            if (reading && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
                return boost::asio::ssl::error::stream_truncated;
            return ssl_category(e);
        }
        return boost::asio::ssl::error::unexpected_result;
    }
}

std::string ssl_call_error(std::string_view call, const boost::system::error_code& ec) {
    std::string msg = std::string(call) + " failed";
    if (ec.category() == boost::asio::error::get_ssl_category()) {
        const auto code = static_cast<unsigned long>(ec.value());
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        msg += " (SSL: ";
        msg += buf;
        // OpenSSL's data for an alert received, which Asio's error code cannot carry.
        if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) >= SSL_AD_REASON_OFFSET &&
            ERR_GET_REASON(code) < SSL_AD_REASON_OFFSET + 256)
            msg += ":SSL alert number " + std::to_string(ERR_GET_REASON(code) - SSL_AD_REASON_OFFSET);
        return msg + ")";
    }
    return msg + " (" + std::to_string(ec.value()) + ": " + ec.message() + ")";
}

namespace {

// What a server-side connection's handshake decided, kept with its SSL.
struct Negotiated {
    const ServerSelector* selector;
    const ConnectionInfo* connection;  // for certificates named by variables
    const ir::HttpConfig* http;
    const ir::HttpServer* server;  // the default server, or the one SNI chose
    std::string server_name;  // the SNI name that chose a server (nginx's hc->ssl_servername)
    std::string certificate_error;  // why a certificate named by variables did not load
};

int negotiated_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr,
                                                  [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) {
                                                      delete static_cast<Negotiated*>(p);
                                                  });
    return index;
}

// ngx_http_validate_host for an SNI name: lower case, one trailing dot dropped; false
// where nginx ignores the name.
bool valid_host(std::string& host) {
    int dots = 0;
    for (std::size_t i = 0; i < host.size(); ++i) {
        const char ch = host[i];
        if (ch == '.') {
            if (dots == 1 && i > 0 && host[i - 1] == '.') return false;
            dots = 1;
            continue;
        }
        dots = 0;
        if (ch == '/' || ch == '\\' || ch == '\0' || static_cast<unsigned char>(ch) < 0x21) return false;
        host[i] = ascii_lower(ch);
    }
    if (!host.empty() && host.back() == '.') host.pop_back();
    return !host.empty();
}

// ngx_http_ssl_servername.
int select_server(SSL* ssl, int* alert, void*) {
    auto* n = static_cast<Negotiated*>(SSL_get_ex_data(ssl, negotiated_index()));
    if (!n) return SSL_TLSEXT_ERR_OK;
    const ir::HttpServer* server = &n->selector->default_server();
    if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
        std::string host(name);
        if (valid_host(host))
            if (const ir::HttpServer* found = n->selector->find(host)) {
                server = found;
                n->server = found;
                n->server_name = std::move(host);
                if (found->ssl && found->ssl->context) {
                    SSL_CTX* ctx = found->ssl->context.get();
                    if (!SSL_set_SSL_CTX(ssl, ctx)) {
                        *alert = SSL_AD_INTERNAL_ERROR;
                        return SSL_TLSEXT_ERR_ALERT_FATAL;
                    }
                    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
                    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
                    SSL_clear_options(ssl, SSL_get_options(ssl) & ~SSL_CTX_get_options(ctx));
                    SSL_set_options(ssl, SSL_CTX_get_options(ctx));
                }
            }
    }
    if (server->ssl && server->ssl->reject_handshake) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

// ngx_http_ssl_alpn_select: HTTP/1.x only; a client offering none of it is refused.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void*) {
    static constexpr unsigned char offered[] = "\x08http/1.1\x08http/1.0\x08http/0.9";
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, outlen, offered, sizeof offered - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

// ngx_ssl_verify_error_optional: what ssl_verify_client optional_no_ca lets through.
bool optional_error(long rc) {
    return rc == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || rc == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
           rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT || rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           rc == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE || rc == X509_V_ERR_CERT_UNTRUSTED;
}

// ngx_http_ssl_certificate: the chosen server's certificates named by variables,
// evaluated with what the connection knows (no request yet) and loaded into this SSL.
int load_certificates(SSL* ssl, void*) {
    auto* n = static_cast<Negotiated*>(SSL_get_ex_data(ssl, negotiated_index()));
    if (!n || !n->server->ssl) return 1;
    ConnectionInfo connection = *n->connection;
    connection.ssl = ssl;
    Request request;
    RequestContext ctx(connection, request);
    ctx.server = n->server;
    ctx.variables = &n->http->variables;
    ctx.maps = &n->http->maps;
    const ir::SslServerSettings& settings = *n->server->ssl;
    for (const auto& c : settings.certificate_values) {
        n->certificate_error = ir::use_connection_certificate(ssl, expand(c.certificate, ctx), expand(c.key, ctx),
                                                              settings.passwords, c.conf_prefix);
        if (!n->certificate_error.empty()) return 0;  // the handshake fails: "cert cb error"
    }
    return 1;
}

}  // namespace

void prepare_server_context(const ir::SslServerSettings& settings) {
    SSL_CTX* ctx = settings.context.get();
    SSL_CTX_set_tlsext_servername_callback(ctx, select_server);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
    if (!settings.certificate_values.empty()) SSL_CTX_set_cert_cb(ctx, load_certificates, nullptr);
    prepare_server_ocsp(settings);  // ssl_stapling, ssl_ocsp
}

void prepare_stream_server_context(const ir::SslServerSettings& settings) {
    SSL_CTX* ctx = settings.context.get();
    SSL_CTX_set_tlsext_servername_callback(ctx, +[](SSL*, int*, void*) { return SSL_TLSEXT_ERR_OK; });
    // ngx_stream_ssl_alpn_select: the first of ssl_alpn's the client offers; none is fatal.
    if (!settings.alpn.empty())
        SSL_CTX_set_alpn_select_cb(
            ctx,
            +[](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void* arg) {
                const auto& alpn = *static_cast<const std::string*>(arg);
                unsigned char* chosen = nullptr;
                if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(alpn.data()),
                                          static_cast<unsigned>(alpn.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
                    return SSL_TLSEXT_ERR_ALERT_FATAL;
                *out = chosen;
                return SSL_TLSEXT_ERR_OK;
            },
            const_cast<std::string*>(&settings.alpn));
}

SSL* new_server_ssl(const ServerSelector& selector, const ConnectionInfo& connection, const ir::HttpConfig& http) {
    const ir::HttpServer& fallback = selector.default_server();
    if (!fallback.ssl || !fallback.ssl->context) return nullptr;
    SSL* ssl = SSL_new(fallback.ssl->context.get());
    if (!ssl) return nullptr;
    SSL_set_accept_state(ssl);
    SSL_set_ex_data(ssl, negotiated_index(), new Negotiated{&selector, &connection, &http, &fallback, {}, {}});
    return ssl;
}

std::string handshake_log_tail(const ConnectionInfo& conn) {
    return " while SSL handshaking, client: " + conn.remote_addr + ", server: " + conn.server_text();
}

std::string certificate_error(SSL* ssl) {
    const auto* n = static_cast<const Negotiated*>(SSL_get_ex_data(ssl, negotiated_index()));
    return n ? n->certificate_error : std::string();
}

int refuse_client(SSL* ssl, const ir::HttpServer& server, std::string_view host, std::string& log_line) {
    using Verify = ir::SslServerSettings::VerifyClient;
    const Verify verify = server.verify_client;
    const auto* n = static_cast<const Negotiated*>(SSL_get_ex_data(ssl, negotiated_index()));
    if (n && !n->server_name.empty() && n->server_name != host && verify != Verify::off) {
        log_line = "client attempted to request the server name different from the one that was negotiated";
        return 421;
    }
    return check_client_certificate(ssl, verify, log_line);
}

int check_client_certificate(SSL* ssl, ir::SslServerSettings::VerifyClient verify, std::string& log_line) {
    using Verify = ir::SslServerSettings::VerifyClient;
    if (verify == Verify::off) return 0;
    const long rc = SSL_get_verify_result(ssl);
    if (rc != X509_V_OK && (verify != Verify::optional_no_ca || !optional_error(rc))) {
        log_line = "client SSL certificate verify error: (" + std::to_string(rc) + ":" + X509_verify_cert_error_string(rc) + ")";
        SSL_CTX_remove_session(SSL_get_SSL_CTX(ssl), SSL_get0_session(ssl));
        return 495;
    }
    if (verify == Verify::on && !SSL_get0_peer_certificate(ssl)) {
        log_line = "client sent no required SSL certificate";
        SSL_CTX_remove_session(SSL_get_SSL_CTX(ssl), SSL_get0_session(ssl));
        return 496;
    }
    if (const char* failure = ocsp_client_failure(ssl)) {  // ssl_ocsp's verdict
        log_line = std::string("client SSL certificate verify error: ") + failure;
        SSL_CTX_remove_session(SSL_get_SSL_CTX(ssl), SSL_get0_session(ssl));
        return 495;
    }
    return 0;
}

namespace {

// What a memory BIO filled by `write` holds.
template <class Write>
std::string bio_text(Write write) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio) return {};
    std::string out;
    if (write(bio) > 0) {
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        if (n > 0) out.assign(data, static_cast<std::size_t>(n));
    }
    BIO_free(bio);
    return out;
}

std::string hex_lower(const unsigned char* p, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

// A group's name as nginx prints it: OpenSSL's short name, or its TLS code point.
std::string group_name(int nid) {
    if ((nid & TLSEXT_nid_unknown) == 0) {
        const char* name = OBJ_nid2sn(nid);
        if (name) return name;
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%04x", nid & 0xffff);
    return buf;
}

// ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT): all but unreserved characters.
std::string escape_component(std::string_view in) {
    return percent_escape(in, [](unsigned char c) { return !(std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'); });
}

std::string asn1_time(const ASN1_TIME* t) {
    return bio_text([t](BIO* b) { return ASN1_TIME_print(b, t); });
}

// The client certificate's variables (ngx_ssl_get_client_verify, ngx_ssl_get_*): empty
// without a certificate, but for the verdict.
std::optional<std::string> client_certificate_variable(TlsVariable variable, SSL* ssl) {
    using V = TlsVariable;
    X509* const x = SSL_get0_peer_certificate(ssl);
    if (variable == V::client_verify) {
        if (!x) return std::string("NONE");
        const long rc = SSL_get_verify_result(ssl);
        if (rc != X509_V_OK) return "FAILED:" + std::string(X509_verify_cert_error_string(rc));
        const char* failure = ocsp_client_failure(ssl);  // ngx_ssl_ocsp_get_status
        return failure ? "FAILED:" + std::string(failure) : std::string("SUCCESS");
    }
    if (!x) return std::string();
    if (variable == V::client_s_dn) return bio_text([x](BIO* b) { return X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 ? 1 : 0; });
    if (variable == V::client_i_dn) return bio_text([x](BIO* b) { return X509_NAME_print_ex(b, X509_get_issuer_name(x), 0, XN_FLAG_RFC2253) >= 0 ? 1 : 0; });
    if (variable == V::client_s_dn_legacy || variable == V::client_i_dn_legacy) {  // ngx_ssl_get_*_dn_legacy: X509_NAME_oneline's "/CN=..." form
        char* text = X509_NAME_oneline(variable == V::client_s_dn_legacy ? X509_get_subject_name(x) : X509_get_issuer_name(x), nullptr, 0);
        std::string out = text ? text : "";
        OPENSSL_free(text);
        return out;
    }
    if (variable == V::client_serial) return bio_text([x](BIO* b) { return i2a_ASN1_INTEGER(b, X509_get_serialNumber(x)); });
    if (variable == V::client_fingerprint) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (!X509_digest(x, EVP_sha1(), md, &n)) return std::string();
        return hex_lower(md, n);
    }
    const std::string raw = bio_text([x](BIO* b) { return PEM_write_bio_X509(b, x); });
    if (variable == V::client_raw_cert) return raw;
    if (variable == V::client_escaped_cert) return escape_component(raw);
    if (variable == V::client_cert) {
        // Deprecated in nginx: each line after the first starts with a tab.
        std::string out;
        for (std::size_t i = 0; i + 1 < raw.size(); ++i) {
            out += raw[i];
            if (raw[i] == '\n') out += '\t';
        }
        return out;
    }
    if (variable == V::client_v_start) return asn1_time(X509_get0_notBefore(x));
    if (variable == V::client_v_end) return asn1_time(X509_get0_notAfter(x));
    if (variable == V::client_v_remain) {
        std::tm tm{};
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) return std::string();
        const std::time_t end = ::timegm(&tm);
        const std::time_t now = std::time(nullptr);
        return std::to_string(end < now + 86400 ? 0 : (end - now) / 86400);
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> tls_variable(TlsVariable variable, SSL* ssl) {
    using V = TlsVariable;
    if (!ssl) return std::nullopt;
    switch (variable) {
    case V::protocol: return SSL_get_version(ssl);
    case V::cipher: return SSL_get_cipher_name(ssl);
    case V::ciphers: {
        const unsigned char* raw = nullptr;
        const std::size_t n = SSL_get0_raw_cipherlist(ssl, &raw);
        std::string out;
        for (std::size_t i = 0; i + 1 < n; i += 2) {
            if (!out.empty()) out += ':';
            if (const SSL_CIPHER* c = SSL_CIPHER_find(ssl, raw + i)) {
                out += SSL_CIPHER_get_name(c);
            } else {
                char buf[8];
                std::snprintf(buf, sizeof buf, "0x%02x%02x", raw[i], raw[i + 1]);
                out += buf;
            }
        }
        return out;
    }
    case V::curve: {
        const int nid = SSL_get_negotiated_group(ssl);
        return nid == NID_undef ? std::string() : group_name(nid);
    }
    case V::curves: {
        const int n = SSL_get1_curves(ssl, nullptr);
        if (n <= 0) return std::string();
        std::vector<int> nids(static_cast<std::size_t>(n));
        SSL_get1_curves(ssl, nids.data());
        std::string out;
        for (const int nid : nids) {
            if (!out.empty()) out += ':';
            out += group_name(nid);
        }
        return out;
    }
    case V::session_id: {
        const SSL_SESSION* session = SSL_get0_session(ssl);
        if (!session) return std::string();
        unsigned int n = 0;
        const unsigned char* id = SSL_SESSION_get_id(session, &n);
        return hex_lower(id, n);
    }
    case V::session_reused: return std::string(SSL_session_reused(ssl) ? "r" : ".");
    case V::server_name: {
        const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        return std::string(sni ? sni : "");
    }
    case V::alpn_protocol: {
        const unsigned char* p = nullptr;
        unsigned int n = 0;
        SSL_get0_alpn_selected(ssl, &p, &n);
        return std::string(reinterpret_cast<const char*>(p), p ? n : 0);
    }
    default: return client_certificate_variable(variable, ssl);
    }
}

}  // namespace ngxlite::runtime
