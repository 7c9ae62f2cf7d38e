#include "parser/tls_check.hpp"

#include "parser/diagnostics.hpp"
#include "parser/ir/tls_files.hpp"
#include "parser/ir/url.hpp"

#include <openssl/dh.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <cstring>
#include <strings.h>

namespace ngxlite::conf {

namespace {

struct CtxDeleter {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using Ctx = std::unique_ptr<SSL_CTX, CtxDeleter>;

[[noreturn]] void ssl_fail(const std::string& what) {
    std::string msg = what + ir::openssl_errors();
    if (msg.size() > 1023) msg.resize(1023);
    fail(msg);
}

Ctx create_ctx(std::uint32_t protocols) {
    ERR_clear_error();
    Ctx ctx(SSL_CTX_new(TLS_method()));
    if (!ctx) ssl_fail("SSL_CTX_new() failed");
    long options = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3;
    if (!(protocols & ir::kTLSv1)) options |= SSL_OP_NO_TLSv1;
    if (!(protocols & ir::kTLSv1_1)) options |= SSL_OP_NO_TLSv1_1;
    if (!(protocols & ir::kTLSv1_2)) options |= SSL_OP_NO_TLSv1_2;
    if (!(protocols & ir::kTLSv1_3)) options |= SSL_OP_NO_TLSv1_3;
    SSL_CTX_set_options(ctx.get(), options);
    return ctx;
}

void set_ciphers(SSL_CTX* ctx, const std::string& ciphers) {
    if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) == 0)
        ssl_fail("SSL_CTX_set_cipher_list(\"" + ciphers + "\") failed");
}

// ngx_ssl_certificate: the leaf and its chain, then the key. Returns the leaf.
ir::X509Ptr load_certificate(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                             const std::vector<std::string>& passwords) {
    ERR_clear_error();
    std::string error;
    ir::CertificateChain c = ir::load_certificate_chain(cert, error);
    if (!c.leaf) ssl_fail("cannot load certificate \"" + cert + "\": " + error);
    if (SSL_CTX_use_certificate(ctx, c.leaf.get()) == 0) ssl_fail("SSL_CTX_use_certificate(\"" + cert + "\") failed");
    if (SSL_CTX_set0_chain(ctx, c.chain.get()) == 0) ssl_fail("SSL_CTX_set0_chain(\"" + cert + "\") failed");
    c.chain.release();  // the context owns it now
    ir::PkeyPtr pkey = ir::load_private_key(key, passwords, error);
    if (!pkey) ssl_fail("cannot load certificate key \"" + key + "\": " + error);
    if (SSL_CTX_use_PrivateKey(ctx, pkey.get()) == 0) ssl_fail("SSL_CTX_use_PrivateKey(\"" + key + "\") failed");
    return std::move(c.leaf);
}

void load_verify(SSL_CTX* ctx, const std::string& file) {
    if (SSL_CTX_load_verify_locations(ctx, file.c_str(), nullptr) == 0)
        ssl_fail("SSL_CTX_load_verify_locations(\"" + file + "\") failed");
    ERR_clear_error();
}

void load_crl(SSL_CTX* ctx, const std::string& file) {
    if (file.empty()) return;
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (!lookup) ssl_fail("X509_STORE_add_lookup() failed");
    if (X509_LOOKUP_load_file(lookup, file.c_str(), X509_FILETYPE_PEM) == 0)
        ssl_fail("X509_LOOKUP_load_file(\"" + file + "\") failed");
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
}

SSL_CONF_CTX* new_conf_context() {
    SSL_CONF_CTX* cctx = SSL_CONF_CTX_new();
    SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE | SSL_CONF_FLAG_CERTIFICATE | SSL_CONF_FLAG_SERVER |
                                     SSL_CONF_FLAG_CLIENT | SSL_CONF_FLAG_SHOW_ERRORS);
    return cctx;
}

void conf_commands(SSL_CTX* ctx, const std::vector<std::pair<std::string, std::string>>& commands) {
    if (commands.empty()) return;
    SSL_CONF_CTX* cctx = new_conf_context();
    SSL_CONF_CTX_set_ssl_ctx(cctx, ctx);
    for (const auto& [k, v] : commands) {
        if (SSL_CONF_cmd(cctx, k.c_str(), v.c_str()) <= 0) {
            SSL_CONF_CTX_free(cctx);
            ssl_fail("SSL_CONF_cmd(\"" + k + "\", \"" + v + "\") failed");
        }
    }
    SSL_CONF_CTX_finish(cctx);
    SSL_CONF_CTX_free(cctx);
}

// ngx_ssl_verify_callback: the handshake never fails for the peer's certificate; the
// result is checked afterwards (per request, or before sending to an upstream).
int accept_any_certificate(int, X509_STORE_CTX*) { return 1; }

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// An ssl_session_ticket_key file as ngx_ssl_session_ticket_keys reads it: 48 bytes are
// name, AES-128 key, HMAC key; 80 bytes are name, HMAC key, AES-256 key.
struct TicketKey {
    unsigned char name[16];
    unsigned char hmac_key[32];
    unsigned char aes_key[32];
    std::size_t size;  // 48 or 80
};

TicketKey ticket_key(const std::string& file) {
    TicketKey k{};
    k.size = file.size();
    const auto* b = reinterpret_cast<const unsigned char*>(file.data());
    std::memcpy(k.name, b, 16);
    if (k.size == 48) {
        std::memcpy(k.aes_key, b + 16, 16);
        std::memcpy(k.hmac_key, b + 32, 16);
    } else {
        std::memcpy(k.hmac_key, b + 16, 32);
        std::memcpy(k.aes_key, b + 48, 32);
    }
    return k;
}

int ticket_keys_index() {
    static const int index = SSL_CTX_get_ex_new_index(
        0, nullptr, nullptr, nullptr, [](void*, void* keys, CRYPTO_EX_DATA*, int, long, void*) {
            delete static_cast<std::vector<TicketKey>*>(keys);
        });
    return index;
}

// ngx_ssl_ticket_key_callback: the first key encrypts; any key decrypts, and a ticket
// made with another than the first is renewed.
int ticket_key_callback(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
    const auto* keys = static_cast<const std::vector<TicketKey>*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ticket_keys_index()));
    if (!keys || keys->empty()) return -1;
    const auto init_mac = [mac](const TicketKey& k) {
        char digest[] = "SHA256";
        const OSSL_PARAM params[] = {
            OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k.hmac_key), k.size == 48 ? 16 : 32),
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
        return EVP_MAC_CTX_set_params(mac, params) == 1;
    };
    if (enc == 1) {
        const TicketKey& k = keys->front();
        const EVP_CIPHER* c = k.size == 48 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(c)) != 1) return -1;
        if (EVP_EncryptInit_ex(cipher, c, nullptr, k.aes_key, iv) != 1 || !init_mac(k)) return -1;
        std::memcpy(name, k.name, 16);
        return 1;
    }
    for (std::size_t i = 0; i < keys->size(); ++i) {
        const TicketKey& k = (*keys)[i];
        if (std::memcmp(name, k.name, 16) != 0) continue;
        const EVP_CIPHER* c = k.size == 48 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
        if (!init_mac(k) || EVP_DecryptInit_ex(cipher, c, nullptr, k.aes_key, iv) != 1) return -1;
        return i == 0 ? 1 : 2;
    }
    return 0;  // unknown key: a full handshake
}

void set_ticket_keys(SSL_CTX* ctx, std::vector<TicketKey> keys) {
    SSL_CTX_set_ex_data(ctx, ticket_keys_index(), new std::vector<TicketKey>(std::move(keys)));
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_callback);
}


// --- OCSP (ngx_event_openssl_stapling.c, load time) ------------------------------------

std::shared_ptr<x509_st> shared_x509(X509* x) {
    X509_up_ref(x);
    return std::shared_ptr<x509_st>(x, X509_free);
}

// A responder URL as ngx_ssl_stapling_responder and ngx_ssl_ocsp take it: "http://" only,
// then ngx_parse_url with port 80 by default and a URI allowed (names resolved now).
bool http_prefix(std::string_view url) { return url.size() > 7 && ::strncasecmp(url.data(), "http://", 7) == 0; }

ir::ParsedUrl parse_responder(std::string_view stripped) {
    ir::UrlOptions o;
    o.uri_part = true;
    o.default_port = 80;
    return ir::parse_url(stripped, o);
}

ir::OcspResponder responder_of(ir::ParsedUrl u) {
    return {std::move(u.host), u.port, std::move(u.uri), std::move(u.addrs)};
}

// ngx_ssl_stapling_file: the response is read, checked and re-encoded now, stapled as it is.
std::string stapling_file(const std::string& file) {
    ERR_clear_error();
    BIO* bio = BIO_new_file(file.c_str(), "rb");
    if (!bio) ssl_fail("BIO_new_file(\"" + file + "\") failed");
    OCSP_RESPONSE* response = d2i_OCSP_RESPONSE_bio(bio, nullptr);
    BIO_free(bio);
    if (!response) ssl_fail("d2i_OCSP_RESPONSE_bio(\"" + file + "\") failed");
    unsigned char* der = nullptr;
    const int len = i2d_OCSP_RESPONSE(response, &der);
    OCSP_RESPONSE_free(response);
    if (len <= 0) ssl_fail("i2d_OCSP_RESPONSE(\"" + file + "\") failed");
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return out;
}

// ngx_ssl_stapling_issuer: in the certificate's chain, else in the context's store; null
// (with nginx's warning) when neither has it.
std::shared_ptr<x509_st> stapling_issuer(SSL_CTX* ctx, X509* cert, STACK_OF(X509) * chain, const std::string& name,
                                         const Warn& warn) {
    for (int i = 0; i < sk_X509_num(chain); ++i)
        if (X509* issuer = sk_X509_value(chain, i); X509_check_issued(issuer, cert) == X509_V_OK) return shared_x509(issuer);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    if (!store) ssl_fail("SSL_CTX_get_cert_store() failed");
    X509_STORE_CTX* store_ctx = X509_STORE_CTX_new();
    if (!store_ctx) ssl_fail("X509_STORE_CTX_new() failed");
    if (X509_STORE_CTX_init(store_ctx, store, nullptr, nullptr) == 0) {
        X509_STORE_CTX_free(store_ctx);
        ssl_fail("X509_STORE_CTX_init() failed");
    }
    X509* issuer = nullptr;
    const int rc = X509_STORE_CTX_get1_issuer(&issuer, store_ctx, cert);
    X509_STORE_CTX_free(store_ctx);
    if (rc == -1) ssl_fail("X509_STORE_CTX_get1_issuer() failed");
    if (rc == 0) {
        ERR_clear_error();
        warn("\"ssl_stapling\" ignored, issuer certificate not found for certificate \"" + name + "\"");
        return nullptr;
    }
    return std::shared_ptr<x509_st>(issuer, X509_free);  // get1: the reference is ours
}

// ngx_ssl_stapling_responder: ssl_stapling_responder, else the certificate's first OCSP
// URL; nullopt (with nginx's warning) when there is none or it is not usable.
std::optional<ir::OcspResponder> stapling_responder(X509* cert, const std::string& configured, const std::string& name,
                                                    const Warn& warn) {
    std::string url = configured;
    if (url.empty()) {
        STACK_OF(OPENSSL_STRING)* aia = X509_get1_ocsp(cert);
        const char* first = aia ? sk_OPENSSL_STRING_value(aia, 0) : nullptr;
        if (first) url = first;
        X509_email_free(aia);
        if (!first) {
            warn("\"ssl_stapling\" ignored, no OCSP responder URL in the certificate \"" + name + "\"");
            return std::nullopt;
        }
    }
    if (!http_prefix(url)) {
        warn("\"ssl_stapling\" ignored, invalid URL prefix in OCSP responder \"" + url + "\" in the certificate \"" + name + "\"");
        return std::nullopt;
    }
    const std::string stripped = url.substr(7);
    ir::ParsedUrl u = parse_responder(stripped);
    if (!u.err.empty()) {
        warn("\"ssl_stapling\" ignored, " + u.err + " in OCSP responder \"" + stripped + "\" in the certificate \"" + name + "\"");
        return std::nullopt;
    }
    return responder_of(std::move(u));
}

// ngx_ssl_stapling: each certificate of the context, the last loaded first (nginx's list).
void prepare_stapling(SSL_CTX* ctx, ir::SslServerSettings& s, const std::vector<ir::X509Ptr>& leaves, const Warn& warn) {
    for (std::size_t i = leaves.size(); i-- > 0;) {
        X509* leaf = leaves[i].get();
        ir::StapleSource staple;
        staple.certificate = shared_x509(leaf);
        staple.name = s.certificates[i].certificate;
        STACK_OF(X509)* chain = nullptr;
        SSL_CTX_select_current_cert(ctx, leaf);
        SSL_CTX_get0_chain_certs(ctx, &chain);
        staple.chain = std::shared_ptr<stack_st_X509>(chain ? X509_chain_up_ref(chain) : sk_X509_new_null(),
                                                      [](STACK_OF(X509) * c) { sk_X509_pop_free(c, X509_free); });
        if (!s.stapling_file.empty()) {
            staple.file_response = stapling_file(s.stapling_file);
        } else if ((staple.issuer = stapling_issuer(ctx, leaf, chain, staple.name, warn))) {
            staple.responder = stapling_responder(leaf, s.stapling_responder, staple.name, warn);
        }
        s.staples.push_back(std::move(staple));
    }
}

// ngx_ssl_ocsp: ssl_ocsp's checks and ssl_ocsp_responder's URL.
void prepare_ocsp(ir::SslServerSettings& s) {
    if (s.ocsp == ir::SslServerSettings::Ocsp::off) return;
    if (s.verify_client == ir::SslServerSettings::VerifyClient::optional_no_ca)
        fail("\"ssl_ocsp\" is incompatible with \"ssl_verify_client optional_no_ca\"");
    const std::string& url = s.ocsp_responder_url;
    if (url.empty()) return;
    if (!http_prefix(url)) fail("invalid URL prefix in OCSP responder \"" + url + "\" in \"ssl_ocsp_responder\"");
    const std::string stripped = url.substr(7);
    ir::ParsedUrl u = parse_responder(stripped);
    if (!u.err.empty()) fail(u.err + " in OCSP responder \"" + stripped + "\" in \"ssl_ocsp_responder\"");
    s.ocsp_responder = responder_of(std::move(u));
}

}  // namespace

std::shared_ptr<ssl_ctx_st> build_server_tls(ir::SslServerSettings& s, const Warn& warn) {
    Ctx ctx = create_ctx(s.protocols);
    // ngx_ssl_create's server-side options (OpenSSL 3 refuses client renegotiation itself).
    SSL_CTX_set_options(ctx.get(), SSL_OP_SINGLE_DH_USE | SSL_OP_SINGLE_ECDH_USE | SSL_OP_NO_COMPRESSION |
                                       SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    set_ciphers(ctx.get(), s.ciphers);
    if (s.prefer_server_ciphers) SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
    std::vector<ir::X509Ptr> leaves;
    if (s.certificate_values.empty())  // else each handshake loads them (the runtime's cert callback)
        for (const auto& c : s.certificates) leaves.push_back(load_certificate(ctx.get(), c.certificate, c.key, s.passwords));
    // ngx_ssl_client_certificate and ngx_ssl_trusted_certificate.
    const bool verify = s.verify_client != ir::SslServerSettings::VerifyClient::off;
    SSL_CTX_set_verify(ctx.get(), verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, accept_any_certificate);
    SSL_CTX_set_verify_depth(ctx.get(), s.verify_depth);
    if (verify) {
        if (s.client_certificate.empty() && s.verify_client != ir::SslServerSettings::VerifyClient::optional_no_ca)
            fail("no ssl_client_certificate for ssl_verify_client");
        if (!s.client_certificate.empty()) {
            load_verify(ctx.get(), s.client_certificate);
            STACK_OF(X509_NAME)* list = SSL_load_client_CA_file(s.client_certificate.c_str());
            if (!list) ssl_fail("SSL_load_client_CA_file(\"" + s.client_certificate + "\") failed");
            SSL_CTX_set_client_CA_list(ctx.get(), list);
        }
    }
    if (!s.trusted_certificate.empty()) load_verify(ctx.get(), s.trusted_certificate);
    load_crl(ctx.get(), s.crl);
    prepare_ocsp(s);
    // ngx_ssl_session_id_context: sessions resume only where the certificates and the
    // client CAs they were made with still apply.
    unsigned char id[EVP_MAX_MD_SIZE];
    unsigned int id_size = 0;
    {
        EVP_MD_CTX* md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, EVP_sha1(), nullptr);
        EVP_DigestUpdate(md, "HTTP", 4);
        for (const auto& leaf : leaves) {
            unsigned char* der = nullptr;
            const int n = i2d_X509(leaf.get(), &der);
            if (n > 0) EVP_DigestUpdate(md, der, static_cast<std::size_t>(n));
            OPENSSL_free(der);
        }
        const std::string cas = s.client_certificate.empty() ? std::string() : read_file(s.client_certificate);
        EVP_DigestUpdate(md, cas.data(), cas.size());
        EVP_DigestFinal_ex(md, id, &id_size);
        EVP_MD_CTX_free(md);
    }
    SSL_CTX_set_session_id_context(ctx.get(), id, std::min<unsigned int>(id_size, SSL_MAX_SID_CTX_LENGTH));
    if (!s.dhparam.empty()) {
        BIO* bio = BIO_new_file(s.dhparam.c_str(), "r");
        if (!bio) ssl_fail("BIO_new_file(\"" + s.dhparam + "\") failed");
        // nginx 1.22.1 reads them with the deprecated DH API; so do we, for the same errors.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        DH* dh = PEM_read_bio_DHparams(bio, nullptr, nullptr, nullptr);
        BIO_free(bio);
        if (!dh) ssl_fail("PEM_read_bio_DHparams(\"" + s.dhparam + "\") failed");
        SSL_CTX_set_tmp_dh(ctx.get(), dh);
        DH_free(dh);
#pragma GCC diagnostic pop
    }
    if (s.ecdh_curve != "auto" && SSL_CTX_set1_curves_list(ctx.get(), s.ecdh_curve.c_str()) == 0)
        ssl_fail("SSL_CTX_set1_curves_list(\"" + s.ecdh_curve + "\") failed");
    // ngx_ssl_session_cache.
    using Cache = ir::SslServerSettings::SessionCache;
    if (s.session_cache == Cache::off) {
        SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    } else if (s.session_cache == Cache::none) {
        // Ids sent but nothing stored: some clients misbehave when told there is no cache.
        SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_AUTO_CLEAR |
                                                      SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_cache_size(ctx.get(), 1);
    } else {
        SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
        if (s.session_cache_size > 0) SSL_CTX_sess_set_cache_size(ctx.get(), s.session_cache_size);
    }
    SSL_CTX_set_timeout(ctx.get(), static_cast<long>(s.session_timeout.count() / 1000));
    if (!s.session_tickets) SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
    std::vector<TicketKey> keys;
    for (const auto& keyfile : s.session_ticket_keys) {
        const std::string key = read_file(keyfile);
        if (key.size() != 48 && key.size() != 80) fail("\"" + keyfile + "\" must be 48 or 80 bytes");
        keys.push_back(ticket_key(key));
    }
    if (!keys.empty()) set_ticket_keys(ctx.get(), std::move(keys));
    if (s.stapling) prepare_stapling(ctx.get(), s, leaves, warn);
    conf_commands(ctx.get(), s.conf_commands);
    return std::shared_ptr<ssl_ctx_st>(ctx.release(), SSL_CTX_free);
}

bool conf_command_takes_path(const std::string& command) {
    SSL_CONF_CTX* cctx = new_conf_context();
    const int type = SSL_CONF_cmd_value_type(cctx, command.c_str());
    SSL_CONF_CTX_free(cctx);
    return type == SSL_CONF_TYPE_FILE || type == SSL_CONF_TYPE_DIR;
}

std::shared_ptr<ssl_ctx_st> build_client_tls(const ir::SslClientSettings& s, const std::string& prefix) {
    Ctx ctx = create_ctx(s.protocols);
    set_ciphers(ctx.get(), s.ciphers);
    if (!s.certificate.empty() && !s.certificate_value)  // with variables: per upstream connection
        load_certificate(ctx.get(), s.certificate, s.certificate_key, s.passwords);
    if (s.verify) {
        if (s.trusted_certificate.empty()) fail("no " + prefix + "_ssl_trusted_certificate for " + prefix + "_ssl_verify");
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, accept_any_certificate);
        SSL_CTX_set_verify_depth(ctx.get(), s.verify_depth);
        load_verify(ctx.get(), s.trusted_certificate);
        load_crl(ctx.get(), s.crl);
    }
    conf_commands(ctx.get(), s.conf_commands);
    // ngx_ssl_client_session_cache: sessions are kept by the runtime, per upstream server.
    SSL_CTX_set_session_cache_mode(ctx.get(), s.session_reuse ? SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL
                                                              : SSL_SESS_CACHE_OFF);
    return std::shared_ptr<ssl_ctx_st>(ctx.release(), SSL_CTX_free);
}

}  // namespace ngxlite::conf
