#include "parser/ir/tls_files.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstring>

namespace ngxlite::ir {

std::string openssl_errors() {
    std::string out = " (SSL:";
    for (;;) {
        const char* data = nullptr;
        int flags = 0;
        const unsigned long n = ERR_peek_error_data(&data, &flags);
        if (n == 0) break;
        char buf[256];
        ERR_error_string_n(n, buf, sizeof buf);
        out += " ";
        out += buf;
        if (data && *data && (flags & ERR_TXT_STRING)) {
            out += ":";
            out += data;
        }
        ERR_get_error();
    }
    return out + ")";
}

namespace {

struct BioDeleter {
    void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr open_bio(const std::string& name, std::string& error) {
    if (name.starts_with("data:")) {
        BioPtr bio(BIO_new_mem_buf(name.data() + 5, static_cast<int>(name.size() - 5)));
        if (!bio) error = "BIO_new_mem_buf() failed";
        return bio;
    }
    BioPtr bio(BIO_new_file(name.c_str(), "r"));
    if (!bio) error = "BIO_new_file() failed";
    return bio;
}

int password_cb(char* buf, int size, int, void* userdata) {
    const auto* pw = static_cast<const std::string*>(userdata);
    if (!pw) return 0;
    const int n = static_cast<int>(std::min<std::size_t>(pw->size(), static_cast<std::size_t>(size)));
    std::memcpy(buf, pw->data(), static_cast<std::size_t>(n));
    return n;
}

}  // namespace

CertificateChain load_certificate_chain(const std::string& path, std::string& error) {
    CertificateChain out;
    BioPtr bio = open_bio(path, error);
    if (!bio) return out;
    X509Ptr leaf(PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
    if (!leaf) {
        error = "PEM_read_bio_X509_AUX() failed";
        return out;
    }
    X509StackPtr chain(sk_X509_new_null());
    if (!chain) {
        error = "sk_X509_new_null() failed";
        return out;
    }
    for (;;) {
        X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
        if (!extra) {
            const unsigned long n = ERR_peek_last_error();
            if (ERR_GET_LIB(n) == ERR_LIB_PEM && ERR_GET_REASON(n) == PEM_R_NO_START_LINE) {
                ERR_clear_error();  // the end of the file
                break;
            }
            error = "PEM_read_bio_X509() failed";
            return out;
        }
        if (sk_X509_push(chain.get(), extra) == 0) {
            X509_free(extra);
            error = "sk_X509_push() failed";
            return out;
        }
    }
    out.leaf = std::move(leaf);
    out.chain = std::move(chain);
    return out;
}

PkeyPtr load_private_key(const std::string& path, const std::vector<std::string>& passwords, std::string& error) {
    BioPtr bio = open_bio(path, error);
    if (!bio) return nullptr;
    // Without a password file there is nobody to ask: an encrypted key fails.
    const std::size_t tries = std::max<std::size_t>(passwords.size(), 1);
    for (std::size_t i = 0; i < tries; ++i) {
        if (i > 0) {
            ERR_clear_error();
            BIO_reset(bio.get());
        }
        void* password = passwords.empty() ? nullptr : const_cast<std::string*>(&passwords[i]);
        if (EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, password_cb, password)) return PkeyPtr(key);
    }
    error = "PEM_read_bio_PrivateKey() failed";
    return nullptr;
}

std::string use_connection_certificate(SSL* ssl, std::string certificate, std::string key,
                                       const std::vector<std::string>& passwords, const std::string& conf_prefix) {
    const auto full_name = [&](std::string& name) {
        if (!name.starts_with("data:") && !name.starts_with("/")) name = conf_prefix + name;
    };
    ERR_clear_error();
    full_name(certificate);
    std::string error;
    CertificateChain c = load_certificate_chain(certificate, error);
    if (!c.leaf) return "cannot load certificate \"" + certificate + "\": " + error + openssl_errors();
    if (SSL_use_certificate(ssl, c.leaf.get()) == 0)
        return "SSL_use_certificate(\"" + certificate + "\") failed" + openssl_errors();
    if (SSL_set0_chain(ssl, c.chain.get()) == 0)
        return "SSL_set0_chain(\"" + certificate + "\") failed" + openssl_errors();
    c.chain.release();  // the SSL owns it now
    full_name(key);
    PkeyPtr pkey = load_private_key(key, passwords, error);
    if (!pkey) return "cannot load certificate key \"" + key + "\": " + error + openssl_errors();
    if (SSL_use_PrivateKey(ssl, pkey.get()) == 0) return "SSL_use_PrivateKey(\"" + key + "\") failed" + openssl_errors();
    return {};
}

}  // namespace ngxlite::ir
