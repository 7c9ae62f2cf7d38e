// The ssl module's merges, http's and stream's: a server's certificates and settings (its
// TLS context built, as nginx does at load time), and a proxy's client side.
#include "parser/compiler.hpp"
#include "parser/merge.hpp"
#include "parser/setters.hpp"
#include "parser/tls_check.hpp"
#include "parser/values.hpp"
#include "parser/variables.hpp"

#include <algorithm>
#include <cstdio>

namespace ngxlite::conf {

namespace {

std::string tls_path(const Compiler& c, const std::string& v) {
    if (v.starts_with("data:") || has_variables(v)) return v;
    return c.full_path(v, true);
}

ir::CertificateTemplate certificate_template(const Compiler& c, const Directive& cert, const Directive& key,
                                             VariableScope& vars) {
    return {vars.unchecked_template(cert.args[1], cert.where), vars.unchecked_template(key.args[1], key.where), c.conf_prefix()};
}

// The ssl_certificate / ssl_certificate_key pairs, as ngx_*_ssl_compile_certificates:
// files to load now, or, when any of them holds variables, every pair as templates
// evaluated per handshake.
void set_server_certificates(const Compiler& c, const std::vector<const Directive*>& certs,
                             const std::vector<const Directive*>& keys, ir::SslServerSettings& t, VariableScope& vars) {
    for (std::size_t i = 0; i < certs.size(); ++i)
        t.certificates.push_back({tls_path(c, certs[i]->args[1]), tls_path(c, keys[i]->args[1])});
    if (std::any_of(t.certificates.begin(), t.certificates.end(),
                    [](const auto& p) { return has_variables(p.certificate) || has_variables(p.key); }))
        for (std::size_t i = 0; i < certs.size(); ++i)
            t.certificate_values.push_back(certificate_template(c, *certs[i], *keys[i], vars));
}

std::vector<std::string> read_passwords(const std::string& path) {
    std::vector<std::string> out;
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return out;
    char line[4096];
    while (std::fgets(line, sizeof line, f)) {
        std::string s(line);
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        out.push_back(s);
    }
    std::fclose(f);
    return out;
}

std::vector<std::pair<std::string, std::string>> conf_commands(const Compiler& c, const Scope& s, DirectiveName name) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const Directive* d : s.find_list(name)) {
        const std::string& command = d->args[1];
        out.emplace_back(command, conf_command_takes_path(command) ? c.full_path(d->args[2], true) : d->args[2]);
    }
    return out;
}

// ssl_session_cache's arguments (already checked by its setter): off, none, or a store
// sized by builtin:N, else by the shared zone (about 4000 sessions a megabyte, as nginx's).
ir::SslServerSettings::SessionCache session_cache(const Directive& d, std::int64_t& size) {
    using Cache = ir::SslServerSettings::SessionCache;
    Cache mode = Cache::none;
    std::int64_t builtin = -1, shared = -1;
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        const std::string& a = d.args[i];
        if (a == "off") mode = Cache::off;
        else if (a == "none") mode = Cache::none;
        else if (a == "builtin") mode = Cache::store, builtin = 0;
        else if (a.starts_with("builtin:")) mode = Cache::store, builtin = *parse_number(std::string_view(a).substr(8));
        else if (a.starts_with("shared:")) {
            mode = Cache::store;
            const std::string_view rest = std::string_view(a).substr(7);
            shared = *parse_size(rest.substr(rest.find(':') + 1)) / 256;
        }
    }
    size = builtin >= 0 ? builtin : shared >= 0 ? shared : 0;
    return mode;
}

}  // namespace

// Merges the ssl module's settings for one server; nullopt when it has no certificate.
std::optional<ir::SslServerSettings> merge_server_ssl(Compiler& c, const Scope& s, VariableScope& vars) {
    ir::SslServerSettings t;
    const auto certs = s.find_list("ssl_certificate");
    const auto keys = s.find_list("ssl_certificate_key");
    const Directive* enable = s.find("ssl");
    t.reject_handshake = s.value<bool>("ssl_reject_handshake", false);
    t.enable = enable && enable->value;
    if (enable && enable->value) {
        if (certs.empty() && !t.reject_handshake) fail("no \"ssl_certificate\" is defined for the \"ssl\" directive" + at(enable->where));
        if (keys.size() < certs.size())
            fail("no \"ssl_certificate_key\" is defined for certificate \"" + certs[keys.size()]->args[1] +
                 "\" and the \"ssl\" directive" + at(enable->where));
    } else if (!certs.empty()) {
        if (keys.size() < certs.size())
            fail("no \"ssl_certificate_key\" is defined for certificate \"" + certs.back()->args[1] + "\"");
    } else if (!t.reject_handshake) {
        return std::nullopt;
    }
    set_server_certificates(c, certs, keys, t, vars);
    if (const Directive* p = s.find("ssl_password_file")) t.passwords = read_passwords(c.full_path(p->args[1], true));
    t.protocols = s.value<std::uint32_t>("ssl_protocols", ir::kDefaultTlsProtocols);
    t.ciphers = s.str("ssl_ciphers", t.ciphers);
    t.prefer_server_ciphers = s.value<bool>("ssl_prefer_server_ciphers", false);
    t.ecdh_curve = s.str("ssl_ecdh_curve", "auto");
    if (const Directive* d = s.find("ssl_dhparam")) t.dhparam = c.full_path(d->args[1], true);
    if (const Directive* d = s.find("ssl_session_cache")) t.session_cache = session_cache(*d, t.session_cache_size);
    t.session_timeout = ir::Msec(s.value<std::int64_t>("ssl_session_timeout", 300) * 1000);
    t.session_tickets = s.value<bool>("ssl_session_tickets", true);
    for (const Directive* d : s.find_list("ssl_session_ticket_key")) t.session_ticket_keys.push_back(c.full_path(d->args[1], true));
    if (const Directive* d = s.find("ssl_verify_client"))
        t.verify_client = static_cast<ir::SslServerSettings::VerifyClient>(d->value);
    t.verify_depth = s.value<int>("ssl_verify_depth", 1);
    if (const Directive* d = s.find("ssl_client_certificate")) t.client_certificate = c.full_path(d->args[1], true);
    if (const Directive* d = s.find("ssl_trusted_certificate")) t.trusted_certificate = c.full_path(d->args[1], true);
    if (const Directive* d = s.find("ssl_crl")) t.crl = c.full_path(d->args[1], true);
    t.conf_commands = conf_commands(c, s, "ssl_conf_command");
    t.early_data = s.value<bool>("ssl_early_data", false);
    if (const Directive* d = s.find("ssl_ocsp")) t.ocsp = static_cast<ir::SslServerSettings::Ocsp>(d->value);
    t.ocsp_responder_url = s.str("ssl_ocsp_responder", "");
    if (const Directive* d = s.find("ssl_ocsp_cache"); d && d->args[1] != "off") {
        const std::string_view rest = std::string_view(d->args[1]).substr(7);
        t.ocsp_cache = std::string(rest.substr(0, rest.find(':')));
        t.ocsp_cache_size = *parse_size(rest.substr(rest.find(':') + 1));
    }
    t.stapling = s.value<bool>("ssl_stapling", false);
    t.stapling_verify = s.value<bool>("ssl_stapling_verify", false);
    if (const Directive* d = s.find("ssl_stapling_file"); d && !d->args[1].empty()) t.stapling_file = c.full_path(d->args[1], true);
    t.stapling_responder = s.str("ssl_stapling_responder", "");
    t.resolver = static_cast<int>(s.value<std::int64_t>("resolver", -1));
    t.resolver_timeout = ir::Msec(s.value<std::int64_t>("resolver_timeout", 30000));
    t.context = build_server_tls(t, [&](std::string w) { c.warn(std::move(w)); });
    return t;
}

ir::SslClientSettings merge_proxy_ssl(Compiler& c, const Scope& s, VariableScope& vars) {
    ir::SslClientSettings t;
    const Directive* cert = s.find("proxy_ssl_certificate");
    const Directive* key = s.find("proxy_ssl_certificate_key");
    if (cert && !cert->args[1].empty() && !key)
        fail("no \"proxy_ssl_certificate_key\" is defined for certificate \"" + cert->args[1] + "\"");
    if (cert) t.certificate = tls_path(c, cert->args[1]);
    if (key) t.certificate_key = tls_path(c, key->args[1]);
    if (cert && key && !cert->args[1].empty() && (has_variables(cert->args[1]) || has_variables(key->args[1])))
        t.certificate_value = certificate_template(c, *cert, *key, vars);
    if (const Directive* d = s.find("proxy_ssl_password_file")) t.passwords = read_passwords(c.full_path(d->args[1], true));
    if (const Directive* d = s.find("proxy_ssl_trusted_certificate")) t.trusted_certificate = c.full_path(d->args[1], true);
    if (const Directive* d = s.find("proxy_ssl_crl")) t.crl = c.full_path(d->args[1], true);
    t.verify = s.value<bool>("proxy_ssl_verify", false);
    t.verify_depth = s.value<int>("proxy_ssl_verify_depth", 1);
    const Directive* name = s.find("proxy_ssl_name");
    t.name = name ? name->args[1] : "";
    if (name) t.name_template = vars.unchecked_template(name->args[1], name->where);
    t.server_name = s.value<bool>("proxy_ssl_server_name", false);
    t.protocols = s.value<std::uint32_t>("proxy_ssl_protocols", ir::kDefaultTlsProtocols);
    t.ciphers = s.str("proxy_ssl_ciphers", "DEFAULT");
    t.conf_commands = conf_commands(c, s, "proxy_ssl_conf_command");
    t.session_reuse = s.value<bool>("proxy_ssl_session_reuse", true);
    return t;
}

}  // namespace ngxlite::conf
