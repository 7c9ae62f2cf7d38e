// Certificates and keys read as nginx 1.22.1 reads them (ngx_ssl_load_certificate,
// ngx_ssl_load_certificate_key): a file or a "data:" value. The compiler loads fixed ones
// into the contexts at load time; the runtime loads those named by variables into one
// connection (ngx_ssl_connection_certificate), per handshake or per upstream connection.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

namespace ngxlite::ir {

// "... (SSL: error:...:reason[:data] ...)": OpenSSL's error queue as nginx prints it
// (ngx_ssl_error), the queue emptied.
std::string openssl_errors();

struct X509Deleter {
    void operator()(X509* x) const { X509_free(x); }
};
struct X509StackDeleter {
    void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct PkeyDeleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

struct CertificateChain {
    X509Ptr leaf;
    X509StackPtr chain;  // the certificates after the leaf, in file order
};

// The leaf and its chain, or a null leaf with nginx's reason in `error`
// ("BIO_new_file() failed", "PEM_read_bio_X509_AUX() failed", ...); OpenSSL's queue
// holds the details.
CertificateChain load_certificate_chain(const std::string& path, std::string& error);

// The private key, trying each of `passwords` in turn (ssl_password_file), or null with
// nginx's reason in `error`.
PkeyPtr load_private_key(const std::string& path, const std::vector<std::string>& passwords, std::string& error);

// ngx_ssl_connection_certificate: `certificate` and `key` (a relative path is taken from
// `conf_prefix`, as ngx_get_full_name does) set on one connection. "" or the line nginx
// logs at error level, OpenSSL's errors included.
std::string use_connection_certificate(SSL* ssl, std::string certificate, std::string key,
                                       const std::vector<std::string>& passwords, const std::string& conf_prefix);

}  // namespace ngxlite::ir
