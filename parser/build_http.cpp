// nginx's ngx_http_block after the closing brace: initialise upstreams, merge servers and
// locations module by module, build location trees, check listen ... ssl, variables and
// server names, and produce the http IR. Order matters: it decides which error wins.
#include "parser/compiler.hpp"
#include "parser/ir/address.hpp"
#include "parser/http_state.hpp"
#include "parser/merge.hpp"
#include "parser/setters.hpp"
#include "parser/syslog.hpp"
#include "parser/tls_check.hpp"
#include "parser/upstreams.hpp"
#include "parser/url.hpp"
#include "parser/values.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace ngxlite::conf {

namespace {

std::string tls_path(const Compiler& c, const std::string& v) {
    if (v.starts_with("data:") || has_variables(v)) return v;
    return c.full_path(v, true);
}

ir::CertificateTemplate certificate_template(const Compiler& c, const Directive& cert, const Directive& key) {
    return {compile_template(cert.args[1], cert.where), compile_template(key.args[1], key.where), c.conf_prefix()};
}

// The ssl_certificate / ssl_certificate_key pairs, as ngx_*_ssl_compile_certificates:
// files to load now, or, when any of them holds variables, every pair as templates
// evaluated per handshake.
void set_server_certificates(const Compiler& c, const std::vector<const Directive*>& certs,
                             const std::vector<const Directive*>& keys, ir::SslServerSettings& t) {
    for (std::size_t i = 0; i < certs.size(); ++i)
        t.certificates.push_back({tls_path(c, certs[i]->args[1]), tls_path(c, keys[i]->args[1])});
    if (std::any_of(t.certificates.begin(), t.certificates.end(),
                    [](const auto& p) { return has_variables(p.certificate) || has_variables(p.key); }))
        for (std::size_t i = 0; i < certs.size(); ++i)
            t.certificate_values.push_back(certificate_template(c, *certs[i], *keys[i]));
}

std::string at(const SourceRef& w) { return std::string(" in ") + (w.file ? *w.file : "command line") + ":" + std::to_string(w.line); }


// --- upstreams ----------------------------------------------------------------------------

void init_upstreams(Compiler& c, ir::HttpConfig& http) {
    for (const auto& up : c.http().upstreams) http.upstreams.push_back(init_upstream(*up, false));
}

// --- ssl (server side) --------------------------------------------------------------------

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

// access_log as merged down `s` (http and stream): the innermost block's list, nothing
// after "off"; the caller adds its module's default.
std::vector<ir::AccessLog> merge_access_logs(Compiler& c, const Scope& s, const std::vector<ir::LogFormat>& formats) {
    std::vector<ir::AccessLog> logs;
    for (const Directive* a : s.find_list("access_log")) {
        if (a->args[1] == "off") break;
        ir::AccessLog log;
        const bool syslog = a->args[1].starts_with("syslog:");
        log.path = compile_template(a->args[1] == "stderr" || syslog || has_variables(a->args[1])
                                        ? a->args[1]
                                        : c.full_path(a->args[1], false),
                                    a->where);
        if (syslog) log.syslog = syslog_peer(a->args[1], a->where);
        if (a->nargs() >= 2) log.format = a->args[2];
        log.format_index = static_cast<std::size_t>(
            std::find_if(formats.begin(), formats.end(), [&](const auto& f) { return f.name == log.format; }) -
            formats.begin());
        for (std::size_t i = 3; i < a->args.size(); ++i) {
            std::string_view v = a->args[i];
            if (v.starts_with("buffer=")) log.buffer = *parse_size(v.substr(7));
            else if (v.starts_with("flush=")) log.flush = ir::Msec(*parse_time(v.substr(6), false));
            else if (v == "gzip") log.gzip = 1;
            else if (v.starts_with("gzip=")) log.gzip = static_cast<int>(parse_number(v.substr(5)).value_or(1));
            else if (v.starts_with("if=")) log.condition = compile_template(v.substr(3), a->where);
        }
        logs.push_back(std::move(log));
    }
    return logs;
}

// Merges the ssl module's settings for one server; nullopt when it has no certificate.
int merge_error_log(Compiler& c, const Scope& s) {
    const auto found = s.find_list("error_log");
    if (found.empty()) return -1;
    std::vector<ir::ErrorLog> logs;
    for (const Directive* d : found) logs.push_back(c.error_log_target(*d));
    auto& all = c.config().context_error_logs;
    const auto it = std::find(all.begin(), all.end(), logs);
    if (it != all.end()) return static_cast<int>(it - all.begin());
    all.push_back(std::move(logs));
    return static_cast<int>(all.size()) - 1;
}

std::optional<ir::SslServerSettings> merge_server_ssl(Compiler& c, const Scope& s) {
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
    set_server_certificates(c, certs, keys, t);
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

// --- proxy --------------------------------------------------------------------------------

std::optional<ir::ProxyBind> merge_proxy_bind(const Scope& s) {
    const Directive* b = s.find("proxy_bind");
    if (!b || (b->args.size() == 2 && b->args[1] == "off")) return std::nullopt;
    ir::ProxyBind bind;
    bind.name = b->args[1];
    if (has_variables(bind.name)) bind.value = compile_template(bind.name, b->where);
    else bind.address = ir::parse_addr_port(bind.name);
    bind.transparent = b->args.size() > 2;
    bind.where = location_of(b->where);
    return bind;
}

ir::SslClientSettings merge_proxy_ssl(Compiler& c, const Scope& s) {
    ir::SslClientSettings t;
    const Directive* cert = s.find("proxy_ssl_certificate");
    const Directive* key = s.find("proxy_ssl_certificate_key");
    if (cert && !cert->args[1].empty() && !key)
        fail("no \"proxy_ssl_certificate_key\" is defined for certificate \"" + cert->args[1] + "\"");
    if (cert) t.certificate = tls_path(c, cert->args[1]);
    if (key) t.certificate_key = tls_path(c, key->args[1]);
    if (cert && key && !cert->args[1].empty() && (has_variables(cert->args[1]) || has_variables(key->args[1])))
        t.certificate_value = certificate_template(c, *cert, *key);
    if (const Directive* d = s.find("proxy_ssl_password_file")) t.passwords = read_passwords(c.full_path(d->args[1], true));
    if (const Directive* d = s.find("proxy_ssl_trusted_certificate")) t.trusted_certificate = c.full_path(d->args[1], true);
    if (const Directive* d = s.find("proxy_ssl_crl")) t.crl = c.full_path(d->args[1], true);
    t.verify = s.value<bool>("proxy_ssl_verify", false);
    t.verify_depth = s.value<int>("proxy_ssl_verify_depth", 1);
    const Directive* name = s.find("proxy_ssl_name");
    t.name = name ? name->args[1] : "";
    if (name) t.name_template = compile_template(name->args[1], name->where);
    t.server_name = s.value<bool>("proxy_ssl_server_name", false);
    t.protocols = s.value<std::uint32_t>("proxy_ssl_protocols", ir::kDefaultTlsProtocols);
    t.ciphers = s.str("proxy_ssl_ciphers", "DEFAULT");
    t.conf_commands = conf_commands(c, s, "proxy_ssl_conf_command");
    t.session_reuse = s.value<bool>("proxy_ssl_session_reuse", true);
    return t;
}

namespace {

ir::ProxySettings merge_proxy(Compiler& c, const Scope& s, const Directive& pass, const std::string& location_name) {
    ir::ProxySettings p;
    p.pass = pass.args[1];
    p.pass_has_variables = has_variables(p.pass);
    p.pass_template = compile_template(p.pass, pass.where);
    p.where = location_of(pass.where);
    if (!p.pass_has_variables) {
        const bool https = p.pass.size() >= 8 && iequals(p.pass.substr(0, 8), "https://");
        p.scheme = https ? "https" : "http";
        // Split as the setter's ngx_parse_url split it: the URI part starts at '/' or '?'.
        const std::string rest = p.pass.substr(https ? 8 : 7);
        UrlOptions o;
        o.default_port = https ? 443 : 80;
        o.uri_part = true;
        o.no_resolve = true;
        const ParsedUrl u = parse_url(rest, o);
        p.uri = u.uri;
        p.upstream = rest.substr(0, rest.size() - u.uri.size());
        // The group this proxy_pass reaches, found as ngx_http_upstream_add found it.
        const auto& ups = c.http().upstreams;
        p.upstream_index = find_upstream(ups, u);
        if (p.upstream_index < 0) fail("no upstream for \"" + p.pass + "\"" + at(pass.where));  // the setter registered one
        const bool explicit_block = p.upstream_index >= 0 && ups[static_cast<std::size_t>(p.upstream_index)]->explicit_block;
        // ngx_http_proxy_set_vars: a unix socket's Host is "localhost".
        p.proxy_host = u.unix_socket ? "localhost" : u.host + (u.no_port || u.port == o.default_port || explicit_block ? "" : ":" + std::to_string(u.port));
        p.proxy_port = u.unix_socket ? "" : std::to_string(u.no_port ? o.default_port : u.port);
    }
    p.connect_timeout = ir::Msec(s.value<std::int64_t>("proxy_connect_timeout", 60000));
    p.socket_keepalive = s.value<bool>("proxy_socket_keepalive", false);
    p.ignore_client_abort = s.value<bool>("proxy_ignore_client_abort", false);
    // ngx_http_core_merge_loc_conf: the nearest resolver (one object per directive), or none.
    p.resolver = static_cast<int>(s.value<std::int64_t>("resolver", -1));
    p.resolver_timeout = ir::Msec(s.value<std::int64_t>("resolver_timeout", 30000));
    p.read_timeout = ir::Msec(s.value<std::int64_t>("proxy_read_timeout", 60000));
    p.send_timeout = ir::Msec(s.value<std::int64_t>("proxy_send_timeout", 60000));
    p.http_version_minor = static_cast<int>(s.value<std::int64_t>("proxy_http_version", 0));
    // nginx's ngx_http_proxy_init_headers: the proxy_set_header list first, then each default
    // it does not override. Empty values are never sent, but still keep the client's header
    // of that name from passing.
    for (const Directive* d : s.find_list("proxy_set_header"))
        p.set_headers.push_back({d->args[1], compile_template(d->args[2], d->where)});
    static const std::pair<const char*, const char*> defaults[] = {
        {"Host", "$proxy_host"}, {"Connection", "close"}, {"Content-Length", "$proxy_internal_body_length"},
        {"Transfer-Encoding", "$proxy_internal_chunked"}, {"TE", ""}, {"Keep-Alive", ""}, {"Expect", ""},
        {"Upgrade", ""}};
    for (const auto& header : defaults) {
        const std::string_view name = header.first;
        const bool overridden = std::any_of(p.set_headers.begin(), p.set_headers.end(),
                                            [&](const ir::HeaderSetting& h) { return iequals(h.name, name); });
        if (!overridden) p.set_headers.push_back({std::string(name), compile_template(header.second, pass.where)});
    }
    // ngx_http_proxy_merge_loc_conf: `default` is proxy_pass's URL (with "/" added when it
    // has no URI part) replaced by the location's name (or "/").
    const std::vector<const Directive*> redirects = s.find_list("proxy_redirect");
    const bool off = !redirects.empty() && redirects.front()->args[1] == "off";
    for (const Directive* d : redirects.empty() ? std::vector<const Directive*>{nullptr} : redirects) {
        if (off || p.pass_has_variables) break;
        ir::ProxyRedirect r;
        if (!d || d->args[1] == "default") {
            if (!p.uri.empty()) {
                r.from = compile_template(p.pass, pass.where);
                r.to = compile_template(location_name, pass.where);
            } else {
                r.from = compile_template(p.pass + "/", pass.where);
                r.to = compile_template("/", pass.where);
            }
        } else if (d->args[1].starts_with("~")) {
            const bool caseless = d->args[1].starts_with("~*");
            r.regex = std::make_shared<ir::Regex>(std::string_view(d->args[1]).substr(caseless ? 2 : 1), caseless);
            r.to = compile_template(d->args[2], d->where);
        } else {
            r.from = compile_template(d->args[1], d->where);
            r.to = compile_template(d->args[2], d->where);
        }
        p.redirects.push_back(std::move(r));
    }
    const std::vector<const Directive*> cookie_flags = s.find_list("proxy_cookie_flags");
    if (cookie_flags.empty() || cookie_flags.front()->args[1] != "off")
        for (const Directive* d : cookie_flags) p.cookie_flags.push_back(cookie_flags_rule(*d));
    p.cookie_domains = cookie_rewrite_rules(s.find_list("proxy_cookie_domain"));
    p.cookie_paths = cookie_rewrite_rules(s.find_list("proxy_cookie_path"));
    for (const Directive* d : s.find_list("proxy_hide_header")) p.hide_headers.push_back(d->args[1]);
    for (const Directive* d : s.find_list("proxy_pass_header")) p.pass_headers.push_back(d->args[1]);
    p.pass_request_headers = s.value<bool>("proxy_pass_request_headers", true);
    p.pass_request_body = s.value<bool>("proxy_pass_request_body", true);
    if (const Directive* d = s.find("proxy_set_body")) p.set_body = compile_template(d->args[1], d->where);
    if (const Directive* d = s.find("proxy_method")) p.method = compile_template(d->args[1], d->where);
    p.buffering = s.value<bool>("proxy_buffering", true);
    p.request_buffering = s.value<bool>("proxy_request_buffering", true);
    if (const Directive* d = s.find("proxy_ignore_headers")) {
        for (std::size_t i = 1; i < d->args.size(); ++i) {
            if (iequals(d->args[i], "X-Accel-Buffering")) p.change_buffering = false;
            if (iequals(d->args[i], "X-Accel-Redirect")) p.accel_redirect = false;
            if (iequals(d->args[i], "X-Accel-Limit-Rate")) p.accel_limit_rate = false;
        }
    }
    p.buffer_size = s.value<std::int64_t>("proxy_buffer_size", 4096);
    if (const Directive* d = s.find("proxy_buffers")) {
        p.buffers_count = static_cast<int>(d->count);
        p.buffers_size = d->value;
    }
    p.intercept_errors = s.value<bool>("proxy_intercept_errors", false);
    p.next_upstream = s.value<std::uint32_t>("proxy_next_upstream", ir::kNextError | ir::kNextTimeout);
    p.next_upstream_tries = s.value<int>("proxy_next_upstream_tries", 0);
    p.next_upstream_timeout = ir::Msec(s.value<std::int64_t>("proxy_next_upstream_timeout", 0));
    p.bind = merge_proxy_bind(s);
    p.ssl = merge_proxy_ssl(c, s);
    // proxy_pass with variables may reach https at run time, so nginx builds the context too.
    p.ssl.enabled = p.pass_has_variables || p.scheme == "https";
    if (p.ssl.enabled) p.ssl.context = build_client_tls(p.ssl, "proxy");
    return p;
}

bool opens_location(const Directive& d) {
    return d.block && (d.name() == "location" || d.name() == "if" || d.name() == "limit_except");
}

ir::LocationMatch match_of(const Directive& d) {
    std::string_view mod = d.nargs() == 2 ? std::string_view(d.args[1]) : std::string_view();
    std::string_view n = d.args[1];
    if (mod == "=" || (mod.empty() && n.starts_with("="))) return ir::LocationMatch::exact;
    if (mod == "^~" || (mod.empty() && n.starts_with("^~"))) return ir::LocationMatch::prefix_no_regex;
    if (mod == "~*" || (mod.empty() && n.starts_with("~*"))) return ir::LocationMatch::regex_caseless;
    if (mod == "~" || (mod.empty() && n.starts_with("~"))) return ir::LocationMatch::regex;
    if (n.starts_with("@")) return ir::LocationMatch::named;
    return ir::LocationMatch::prefix;
}

std::string name_of(const Directive& d) {
    if (d.nargs() == 2) return d.args[2];
    std::string_view n = d.args[1];
    switch (match_of(d)) {
    case ir::LocationMatch::exact: return std::string(n.substr(1));
    case ir::LocationMatch::prefix_no_regex: return std::string(n.substr(2));
    case ir::LocationMatch::regex_caseless: return std::string(n.substr(2));
    case ir::LocationMatch::regex: return std::string(n.substr(1));
    default: return std::string(n);
    }
}

// nginx's ngx_http_cmp_locations order, which its matcher relies on.
void sort_in_match_order(std::vector<ir::Location>& locations) {
    auto rank = [](const ir::Location& l) {
        switch (l.match) {
        case ir::LocationMatch::regex:
        case ir::LocationMatch::regex_caseless: return 1;
        case ir::LocationMatch::named: return 2;
        default: return 0;
        }
    };
    std::stable_sort(locations.begin(), locations.end(), [&](const ir::Location& a, const ir::Location& b) {
        if (rank(a) != rank(b)) return rank(a) < rank(b);
        if (rank(a) == 1) return false;  // regexes keep config order
        if (a.name != b.name) return a.name < b.name;
        return a.match == ir::LocationMatch::exact && b.match != ir::LocationMatch::exact;
    });
}

// The rewrite module's statements other than `if`, compiled (the setters checked them).
std::optional<ir::RewriteOp> rewrite_op(const Directive& d) {
    using Kind = ir::RewriteOp::Kind;
    ir::RewriteOp op;
    op.where = location_of(d.where);
    if (d.name() == "return") {
        op.kind = Kind::return_;
        const bool url = !parse_number(d.args[1]);
        op.ret.code = url ? 302 : static_cast<int>(*parse_number(d.args[1]));
        if (url || d.nargs() == 2) op.ret.text = compile_template(d.args[url ? 1 : 2], d.where);
    } else if (d.name() == "break") {
        op.kind = Kind::break_;
    } else if (d.name() == "set") {
        op.kind = Kind::set;
        op.variable = std::string(variable_target(d, 1));
        for (char& ch : op.variable) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        op.value = compile_template(d.args[2], d.where);
    } else if (d.name() == "rewrite") {
        op.kind = Kind::rewrite;
        op.regex = std::make_shared<ir::Regex>(d.args[1], false);
        std::string replacement = d.args[2];
        // ngx_http_rewrite: a trailing '?' drops the request's arguments.
        if (!replacement.empty() && replacement.back() == '?') {
            replacement.pop_back();
            op.add_args = false;
        }
        if (replacement.starts_with("http://") || replacement.starts_with("https://") || replacement.starts_with("$scheme")) {
            op.redirect = true;
            op.status = 302;
        }
        const std::string flag = d.nargs() == 3 ? d.args[3] : "";
        if (flag == "last") op.flag = ir::RewriteOp::Flag::last;
        else if (flag == "break") op.flag = ir::RewriteOp::Flag::break_;
        else if (flag == "redirect") op.redirect = true, op.status = 302;
        else if (flag == "permanent") op.redirect = true, op.status = 301;
        op.replacement = compile_template(replacement, d.where);
    } else {
        return std::nullopt;
    }
    return op;
}

// The condition of `if`, from the words the setter left without parentheses.
ir::IfCondition if_condition(const Directive& d) {
    using Kind = ir::IfCondition::Kind;
    const auto& w = d.condition;
    ir::IfCondition cond;
    if (w[0][0] == '$') {
        cond.subject = compile_template(w[0], d.where);
        if (w.size() == 1) return cond;
        const std::string& op = w[1];
        if (op == "=" || op == "!=") {
            cond.kind = op == "=" ? Kind::equal : Kind::not_equal;
            cond.value = compile_template(w[2], d.where);
        } else {
            cond.kind = op[0] == '!' ? Kind::not_match : Kind::match;
            cond.regex = std::make_shared<ir::Regex>(w[2], op.back() == '*');
        }
        return cond;
    }
    cond.negated = w[0][0] == '!';
    switch (w[0].back()) {
    case 'f': cond.kind = Kind::file; break;
    case 'd': cond.kind = Kind::directory; break;
    case 'e': cond.kind = Kind::exists; break;
    default: cond.kind = Kind::executable; break;
    }
    cond.subject = compile_template(w[1], d.where);
    return cond;
}

// The proxy module's merge for a location and everything nested in it, in config order.
void merge_locations(Compiler& c, const Scope& s, ir::Location& loc, const Directive* inherited_pass) {
    const Directive* pass = s.innermost().find("proxy_pass");
    const bool noname = s.innermost().opener && s.innermost().opener->name() != "location" &&
                        s.innermost().opener->name() != "server";
    if (!pass && noname) pass = inherited_pass;
    if (pass) loc.proxy = merge_proxy(c, s, *pass, loc.name);
    loc.error_log = merge_error_log(c, s);
    if (const Directive* e = s.find("expires")) {
        using Expires = ir::Location::Expires;
        const std::string_view v = e->args.back();
        if (v == "off") loc.expires = Expires::off;
        else if (v == "epoch") loc.expires = Expires::epoch;
        else if (v == "max") loc.expires = Expires::max;
        else if (v.starts_with("@")) {
            loc.expires = Expires::daily;
            loc.expires_seconds = parse_time(v.substr(1), true).value_or(0);
        } else {
            loc.expires = e->nargs() == 2 ? Expires::modified : Expires::access;
            const bool negative = v.starts_with("-");
            const std::int64_t seconds = parse_time(v.substr(negative ? 1 : 0), true).value_or(0);
            loc.expires_seconds = negative ? -seconds : seconds;
        }
    }
    for (const Directive* h : s.find_list("add_header"))
        loc.add_headers.push_back({h->args[1], compile_template(h->args[2], h->where), h->nargs() == 3});
    for (const Directive* h : s.find_list("add_trailer"))
        loc.add_trailers.push_back({h->args[1], compile_template(h->args[2], h->where), h->nargs() == 3});
    loc.access_logs = merge_access_logs(c, s, c.http().log_formats);
    if (!s.find("access_log")) {
        ir::AccessLog log;
        log.path.parts.push_back({ir::Template::Part::Kind::literal, c.full_path(default_http_log_path(), false), 0});
        loc.access_logs.push_back(std::move(log));
    }
    if (const auto index = s.find_list("index"); !index.empty()) {
        loc.index.clear();
        for (const Directive* d : index) {
            loc.index.insert(loc.index.end(), d->args.begin() + 1, d->args.end());
            for (std::size_t i = 1; i < d->args.size(); ++i) loc.index_values.push_back(compile_template(d->args[i], d->where));
        }
    }
    if (const Directive* t = s.find("types")) loc.types = c.http().types.at(t);
    loc.default_type = s.str("default_type", "text/plain");
    loc.server_tokens = s.value<std::int64_t>("server_tokens", 1) != 0;
    loc.client_max_body_size = s.value<std::int64_t>("client_max_body_size", 1048576);
    loc.keepalive_timeout = ir::Msec(s.value<std::int64_t>("keepalive_timeout", 75000));
    if (const Directive* k = s.find("keepalive_timeout"); k && k->nargs() == 2)
        loc.keepalive_header = parse_time(k->args[2], true).value_or(-1);
    loc.client_body_timeout = ir::Msec(s.value<std::int64_t>("client_body_timeout", 60000));
    loc.send_timeout = ir::Msec(s.value<std::int64_t>("send_timeout", 60000));
    loc.keepalive_requests = s.value<int>("keepalive_requests", 1000);
    loc.keepalive_time = ir::Msec(s.value<std::int64_t>("keepalive_time", 3600000));
    loc.keepalive_disable = s.value<std::uint32_t>("keepalive_disable", 1u << 2);
    loc.absolute_redirect = s.value<bool>("absolute_redirect", true);
    loc.port_in_redirect = s.value<bool>("port_in_redirect", true);
    loc.server_name_in_redirect = s.value<bool>("server_name_in_redirect", false);
    loc.chunked_transfer_encoding = s.value<bool>("chunked_transfer_encoding", true);
    loc.etag = s.value<bool>("etag", true);
    loc.if_modified_since = static_cast<ir::Location::IfModifiedSince>(s.value<int>("if_modified_since", 1));
    loc.log_not_found = s.value<bool>("log_not_found", true);
    loc.max_ranges = s.value<std::int64_t>("max_ranges", -1);
    if (const Directive* d = s.find("disable_symlinks")) {
        for (std::size_t i = 1; i < d->args.size(); ++i) {
            const std::string& a = d->args[i];
            if (a == "off") loc.disable_symlinks = ir::Location::Symlinks::off;
            else if (a == "on") loc.disable_symlinks = ir::Location::Symlinks::on;
            else if (a == "if_not_owner") loc.disable_symlinks = ir::Location::Symlinks::if_not_owner;
            else if (a.starts_with("from=")) loc.disable_symlinks_from = compile_template(a.substr(5), d->where);
        }
    }
    const auto complex_size = [&](DirectiveName name) {
        ir::ComplexSize v;
        if (const Directive* d = s.find(name)) {
            if (has_variables(d->args[1])) v.value = compile_template(d->args[1], d->where);
            else v.size = *parse_size(d->args[1]);  // checked by its setter
        }
        return v;
    };
    loc.limit_rate = complex_size("limit_rate");
    loc.limit_rate_after = complex_size("limit_rate_after");
    loc.post_action = s.str("post_action", "");
    loc.client_body_buffer_size = s.value<std::int64_t>("client_body_buffer_size", 8192);
    loc.client_body_in_file_only =
        static_cast<ir::Location::BodyInFile>(s.value<int>("client_body_in_file_only", 0));
    if (const Directive* d = s.find("client_body_temp_path")) {
        loc.client_body_temp_path = c.full_path(d->args[1], false);
        for (std::size_t i = 2; i < d->args.size(); ++i)
            loc.client_body_temp_levels.push_back(static_cast<int>(*parse_number(d->args[i])));
    } else {
        loc.client_body_temp_path = c.full_path("client_body_temp", false);
    }
    // nginx resolves root and alias against the prefix at load time (unless they hold variables).
    auto resolved = [&](const std::string& path) { return has_variables(path) ? path : c.full_path(path, false); };
    loc.root = resolved(s.str("root", "html"));
    loc.prefix = c.prefix();
    if (const Directive* r = s.find("root"); r && has_variables(r->args[1])) loc.root_template = compile_template(r->args[1], r->where);
    if (const Directive* a = s.innermost().find("alias")) {
        loc.alias = resolved(a->args[1]);
        if (has_variables(a->args[1])) loc.alias_template = compile_template(a->args[1], a->where);
    }
    for (const Directive* e : s.find_list("error_page")) {
        const std::size_t last = e->args.size() - 1;
        const bool overwrite = e->args[last - 1].starts_with("=");
        const int response = overwrite ? static_cast<int>(parse_number(std::string_view(e->args[last - 1]).substr(1)).value_or(0)) : -1;
        for (std::size_t i = 1; i < (overwrite ? last - 1 : last); ++i)
            loc.error_pages.push_back({static_cast<int>(*parse_number(e->args[i])), response, compile_template(e->args[last], e->where)});
    }
    loc.recursive_error_pages = s.value<bool>("recursive_error_pages", false);
    for (const Directive* d : s.find_list("set_real_ip_from")) add_real_ip_from(*d, loc.real_ip_from);
    loc.real_ip_header = s.str("real_ip_header", "X-Real-IP");
    loc.real_ip_recursive = s.value<bool>("real_ip_recursive", false);
    merge_access_phase(c, s, loc);
    if (const Directive* t = s.innermost().find("try_files")) {
        ir::TryFiles tf;
        for (std::size_t i = 1; i + 1 < t->args.size(); ++i) tf.files.push_back(compile_template(t->args[i], t->where));
        const std::string& last = t->args.back();
        if (last.starts_with("=")) tf.code = static_cast<int>(parse_number(std::string_view(last).substr(1)).value_or(404));
        else tf.fallback = compile_template(last, t->where);
        loc.try_files = std::move(tf);
    }
    loc.internal = s.innermost().find("internal") != nullptr;
    loc.auto_redirect = s.innermost().find("proxy_pass") && !loc.name.empty() && loc.name.back() == '/' &&
                        (loc.match == ir::LocationMatch::exact || loc.match == ir::LocationMatch::prefix ||
                         loc.match == ir::LocationMatch::prefix_no_regex) &&
                        s.innermost().opener && s.innermost().opener->name() == "location";
    for (const auto& d : s.innermost().directives) {
        if (auto op = rewrite_op(*d)) {
            loc.script.push_back(std::move(*op));
            continue;
        }
        if (!opens_location(*d)) continue;
        ir::Location child;
        child.where = location_of(d->where);
        // An `if` block is a nameless location with its parent's name (nginx's noname).
        child.match = loc.match;
        child.name = loc.name;
        if (d->name() == "location") {
            child.match = match_of(*d);
            child.name = name_of(*d);
            if (child.match == ir::LocationMatch::regex || child.match == ir::LocationMatch::regex_caseless)
                child.regex = std::make_shared<ir::Regex>(child.name, child.match == ir::LocationMatch::regex_caseless);
        }
        merge_locations(c, s.child(d->block.get()), child, pass);
        if (d->name() == "location") {
            loc.locations.push_back(std::move(child));
        } else if (d->name() == "limit_except") {
            for (std::size_t i = 1; i < d->args.size(); ++i) loc.limit_except_methods |= ir::method_bit(d->args[i]);
            // GET allows HEAD too (ngx_http_core_limit_except).
            if (loc.limit_except_methods & ir::kMethodGet) loc.limit_except_methods |= ir::kMethodHead;
            loc.limit_except = std::make_shared<ir::Location>(std::move(child));
        } else if (d->name() == "if") {
            ir::RewriteOp op;
            op.kind = ir::RewriteOp::Kind::if_;
            op.where = location_of(d->where);
            op.condition = if_condition(*d);
            op.if_location = std::make_shared<ir::Location>(std::move(child));
            loc.script.push_back(std::move(op));
        }
    }
    sort_in_match_order(loc.locations);
}

// nginx's ngx_http_init_static_location_trees + join_exact_locations: "duplicate location".
void check_duplicate_locations(const Block& b) {
    struct Entry {
        std::string name;
        bool exact;
        const Directive* d;
    };
    std::vector<Entry> list;
    for (const auto& d : b.directives) {
        if (!d->block || d->name() != "location") continue;
        const auto m = match_of(*d);
        if (m == ir::LocationMatch::exact || m == ir::LocationMatch::prefix || m == ir::LocationMatch::prefix_no_regex)
            list.push_back({name_of(*d), m == ir::LocationMatch::exact, d.get()});
    }
    std::stable_sort(list.begin(), list.end(), [](const Entry& a, const Entry& b) {
        if (a.name != b.name) return a.name < b.name;
        return a.exact && !b.exact;
    });
    for (const auto& e : list) check_duplicate_locations(*e.d->block);
    for (std::size_t i = 0; i + 1 < list.size();) {
        Entry& q = list[i];
        const Entry& x = list[i + 1];
        if (q.name == x.name) {
            if (q.exact == x.exact) fail("duplicate location \"" + x.name + "\"" + at(x.d->where));
            q.exact = false;  // the joined node is now inclusive
            list.erase(list.begin() + static_cast<std::ptrdiff_t>(i) + 1);
            continue;
        }
        ++i;
    }
}

// nginx's ngx_http_server_names: the same name twice on one address:port.
void warn_conflicting_names(Compiler& c) {
    auto& st = c.http();
    for (const auto& addr : st.addresses) {
        if (addr.servers.size() < 2) continue;
        std::vector<std::string> exact, head;
        for (const Directive* server : addr.servers) {
            auto it = std::find_if(st.servers.begin(), st.servers.end(), [&](const auto& s) { return s.server == server; });
            for (const auto& name : it->names) {
                std::string n = name;
                bool busy = false;
                if (n.size() > 1 && n[0] == '.') {
                    const std::string base = n.substr(1);
                    busy = std::count(exact.begin(), exact.end(), base) || std::count(head.begin(), head.end(), base);
                    if (!busy) {
                        exact.push_back(base);
                        head.push_back(base);
                    }
                } else if (n.size() > 2 && n.starts_with("*.")) {
                    const std::string base = n.substr(2);
                    busy = std::count(head.begin(), head.end(), base);
                    if (!busy) head.push_back(base);
                } else {
                    busy = std::count(exact.begin(), exact.end(), n);
                    if (!busy) exact.push_back(n);
                }
                if (busy) c.warn("conflicting server name \"" + name + "\" on " + addr.addr_text + ", ignored");
            }
        }
    }
}

}  // namespace

void finish_http(Compiler& c) {
    HttpState& st = c.http();
    ir::HttpConfig http;
    const Block& http_block = *st.http->block;
    const Scope top(std::vector<const Block*>{&http_block});

    init_upstreams(c, http);

    std::vector<std::optional<ir::SslServerSettings>> server_ssl;
    for (const auto& info : st.servers)
        server_ssl.push_back(merge_server_ssl(c, top.child(info.server->block.get())));

    for (std::size_t i = 0; i < st.servers.size(); ++i) {
        const auto& info = st.servers[i];
        ir::HttpServer server;
        server.where = location_of(info.server->where);
        server.ssl = server_ssl[i];
        const Scope s = top.child(info.server->block.get());
        if (const Directive* d = s.find("ssl_verify_client"))
            server.verify_client = static_cast<ir::SslServerSettings::VerifyClient>(d->value);
        merge_locations(c, s, server.root_location, nullptr);
        server.underscores_in_headers = s.value<bool>("underscores_in_headers", false);
        server.ignore_invalid_headers = s.value<bool>("ignore_invalid_headers", true);
        server.client_header_timeout = ir::Msec(s.value<std::int64_t>("client_header_timeout", 60000));
        server.header_buffer_size = static_cast<std::size_t>(s.value<std::int64_t>("client_header_buffer_size", 1024));
        if (const Directive* d = s.find("large_client_header_buffers")) {
            server.large_header_buffers = static_cast<std::size_t>(d->count);
            server.large_header_buffer_size = static_cast<std::size_t>(d->value);
        }
        server.max_headers = s.value<std::int64_t>("max_headers", 1000);
        server.merge_slashes = s.value<bool>("merge_slashes", true);
        server.locations = std::move(server.root_location.locations);  // already in match order
        server.root_location.locations.clear();
        for (const auto& n : info.names) server.names.push_back({n, nullptr});
        server.server_name = info.first_name.value_or("");
        if (server.server_name.size() > 1 && server.server_name[0] == '.') server.server_name.erase(0, 1);
        if (server.server_name == "$hostname") {
            char host[256] = {};
            ::gethostname(host, sizeof host - 1);
            server.server_name = host;
        }
        for (const auto& re : info.regex_names) server.names.push_back({"~" + re->pattern(), re});
        for (const auto& addr : st.addresses)
            if (std::find(addr.servers.begin(), addr.servers.end(), info.server) != addr.servers.end())
                server.listens.push_back(addr.options);
        http.servers.push_back(std::move(server));
    }

    for (const auto& info : st.servers) check_duplicate_locations(*info.server->block);

    for (const auto& addr : st.addresses) {
        if (!addr.options.ssl) continue;
        auto it = std::find_if(st.servers.begin(), st.servers.end(),
                               [&](const auto& s) { return s.server == addr.default_server; });
        if (!server_ssl[static_cast<std::size_t>(it - st.servers.begin())])
            fail("no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive" + at(addr.default_server->where));
    }

    for (const auto& addr : st.addresses) {
        ir::HttpAddress a;
        a.listen = addr.options;
        a.listen.bind = addr.bind;
        for (const Directive* server : addr.servers) {
            auto it = std::find_if(st.servers.begin(), st.servers.end(), [&](const auto& s) { return s.server == server; });
            const std::size_t index = static_cast<std::size_t>(it - st.servers.begin());
            a.servers.push_back(index);
            if (server == addr.default_server) a.default_server = index;
        }
        http.addresses.push_back(std::move(a));
    }
    st.variables.check(c.modules());
    warn_conflicting_names(c);
    http.log_formats = std::move(st.log_formats);
    http.maps = std::move(st.maps);
    c.config().http = std::move(http);
}

}  // namespace ngxlite::conf
