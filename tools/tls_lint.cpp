#include "tools/tls_lint.hpp"

#include "runtime/tls/tls.hpp"

#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

namespace ngxlite::tools {

namespace {

// "host:port" or "[v6]:port" without the port.
std::string host_of(const std::string& upstream) {
    const auto colon = upstream.rfind(':');
    if (colon == std::string::npos || upstream.find(']', colon) != std::string::npos) return upstream;
    return upstream.substr(0, colon);
}

// The intermediates below the root on the longest chain inside a PEM file of CAs: the
// verify depth a leaf issued by its deepest CA needs (0: none, or no file to read).
int depth_needed(const std::string& file) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(file.c_str(), "r"), BIO_free);
    if (!bio) return 0;
    std::vector<std::unique_ptr<X509, decltype(&X509_free)>> certs;
    while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(x, X509_free);
    int deepest = 0;
    for (const auto& start : certs) {
        int intermediates = 0;
        const X509* at = start.get();
        // Up the issuers found in the file, at most once per certificate (no loops).
        for (std::size_t step = 0; step < certs.size(); ++step) {
            if (X509_check_issued(const_cast<X509*>(at), const_cast<X509*>(at)) == X509_V_OK) break;  // a root
            const auto issuer = std::find_if(certs.begin(), certs.end(), [at](const auto& c) {
                return c.get() != at && X509_check_issued(c.get(), const_cast<X509*>(at)) == X509_V_OK;
            });
            ++intermediates;
            if (issuer == certs.end()) break;
            at = issuer->get();
        }
        deepest = std::max(deepest, intermediates);
    }
    return deepest;
}

// TLSv1 and TLSv1.1 among `protocols` while OpenSSL's default security level refuses them.
std::string refused_protocols(std::uint32_t protocols, const std::string& directive) {
    std::string listed;
    if (protocols & ir::kTLSv1) listed = "\"TLSv1\"";
    if (protocols & ir::kTLSv1_1) listed += (listed.empty() ? "" : " and ") + std::string("\"TLSv1.1\"");
    if (listed.empty()) return {};
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_method()), SSL_CTX_free);
    const int level = ctx ? SSL_CTX_get_security_level(ctx.get()) : 0;
    if (level < 1) return {};
    return listed + " in \"" + directive + "\" " + (listed.find(" and ") != std::string::npos ? "are" : "is") +
           " refused by " + OPENSSL_VERSION_TEXT + " at its security level " + std::to_string(level);
}

void lint_client(const ir::SslClientSettings& s, const std::string& upstream, bool name_known, const std::string& where,
                 std::vector<std::string>& out) {
    if (!s.verify) {
        out.push_back("the TLS upstream \"" + upstream + "\" is used without \"proxy_ssl_verify on\": its certificate is not checked" + where);
    } else if (const int needed = depth_needed(s.trusted_certificate); needed > s.verify_depth) {
        out.push_back("the CA chain in \"" + s.trusted_certificate + "\" needs \"proxy_ssl_verify_depth " + std::to_string(needed) +
                      "\", it is " + std::to_string(s.verify_depth) + where);
    }
    const std::string name = s.name.empty() ? host_of(upstream) : s.name;
    if (!s.server_name && name_known && !name.empty() && !runtime::is_address(name))
        out.push_back("\"proxy_ssl_server_name\" is off while the upstream name \"" + name + "\" is a host name: no SNI is sent" + where);
    if (auto refused = refused_protocols(s.protocols, "proxy_ssl_protocols"); !refused.empty()) out.push_back(refused + where);
}

void lint_location(const ir::Location& l, std::vector<std::string>& out) {
    if (l.proxy && l.proxy->ssl.enabled) {
        const ir::ProxySettings& p = *l.proxy;
        // With variables the host is known per request only; a literal proxy_ssl_name still counts.
        const bool name_known = !p.pass_has_variables || (!p.ssl.name.empty() && p.ssl.name.find('$') == std::string::npos);
        lint_client(p.ssl, p.pass_has_variables ? p.pass : p.upstream, name_known, p.where.in(), out);
    }
    for (const auto& child : l.locations) lint_location(child, out);
}

}  // namespace

std::vector<std::string> lint_tls(const ir::Config& config) {
    std::vector<std::string> out;
    if (config.http)
        for (const auto& server : config.http->servers) {
            if (server.ssl)
                if (auto refused = refused_protocols(server.ssl->protocols, "ssl_protocols"); !refused.empty())
                    out.push_back(refused + server.where.in());
            lint_location(server.root_location, out);
            for (const auto& l : server.locations) lint_location(l, out);
        }
    if (config.stream)
        for (const auto& server : config.stream->servers) {
            if (server.ssl.enabled)
                lint_client(server.ssl, server.proxy_pass, true, server.where.in(), out);
            if (server.ssl_server)
                if (auto refused = refused_protocols(server.ssl_server->protocols, "ssl_protocols"); !refused.empty())
                    out.push_back(refused + server.where.in());
        }
    return out;
}

}  // namespace ngxlite::tools
