// The proxy module's merge of a location (ngx_http_proxy_merge_loc_conf): proxy_pass's
// target, the headers sent, proxy_redirect and the cookie rules, buffers, next upstream,
// bind and TLS.
#include "parser/build_http.hpp"

#include "parser/http_state.hpp"
#include "parser/setters.hpp"
#include "parser/tls_check.hpp"
#include "parser/upstreams.hpp"
#include "parser/ir/url.hpp"
#include "parser/values.hpp"
#include "parser/variables.hpp"

#include <algorithm>

namespace ngxlite::conf {

namespace {

// proxy_pass without variables: its scheme and URI part, the upstream group it reaches,
// and $proxy_host and $proxy_port.
void merge_proxy_target(Compiler& c, const Directive& pass, ir::ProxySettings& p) {
    const bool https = p.pass.size() >= 8 && iequals(p.pass.substr(0, 8), "https://");
    p.scheme = https ? "https" : "http";
    // Split as the setter's ngx_parse_url split it: the URI part starts at '/' or '?'.
    const std::string rest = p.pass.substr(https ? 8 : 7);
    ir::UrlOptions o;
    o.default_port = https ? 443 : 80;
    o.uri_part = true;
    o.no_resolve = true;
    const ir::ParsedUrl u = ir::parse_url(rest, o);
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

// nginx's ngx_http_proxy_init_headers: the proxy_set_header list first, then each default
// it does not override. Empty values are never sent, but still keep the client's header
// of that name from passing.
void merge_proxy_headers(const Scope& s, const Directive& pass, ir::ProxySettings& p, VariableScope& vars) {
    for (const Directive* d : s.find_list("proxy_set_header"))
        p.set_headers.push_back({d->args[1], vars.unchecked_template(d->args[2], d->where)});
    static const std::pair<const char*, const char*> defaults[] = {
        {"Host", "$proxy_host"}, {"Connection", "close"}, {"Content-Length", "$proxy_internal_body_length"},
        {"Transfer-Encoding", "$proxy_internal_chunked"}, {"TE", ""}, {"Keep-Alive", ""}, {"Expect", ""},
        {"Upgrade", ""}};
    for (const auto& header : defaults) {
        const std::string_view name = header.first;
        const bool overridden = std::any_of(p.set_headers.begin(), p.set_headers.end(),
                                            [&](const ir::HeaderSetting& h) { return iequals(h.name, name); });
        if (!overridden) p.set_headers.push_back({std::string(name), vars.unchecked_template(header.second, pass.where)});
    }
}

// ngx_http_proxy_merge_loc_conf: `default` is proxy_pass's URL (with "/" added when it
// has no URI part) replaced by the location's name (or "/").
void merge_proxy_redirects(const Scope& s, const Directive& pass, const std::string& location_name, ir::ProxySettings& p,
                           VariableScope& vars) {
    const std::vector<const Directive*> redirects = s.find_list("proxy_redirect");
    const bool off = !redirects.empty() && redirects.front()->args[1] == "off";
    for (const Directive* d : redirects.empty() ? std::vector<const Directive*>{nullptr} : redirects) {
        if (off || p.pass_has_variables) break;
        ir::ProxyRedirect r;
        if (!d || d->args[1] == "default") {
            if (!p.uri.empty()) {
                r.from = vars.unchecked_template(p.pass, pass.where);
                r.to = vars.unchecked_template(location_name, pass.where);
            } else {
                r.from = vars.unchecked_template(p.pass + "/", pass.where);
                r.to = vars.unchecked_template("/", pass.where);
            }
        } else if (d->args[1].starts_with("~")) {
            const bool caseless = d->args[1].starts_with("~*");
            auto regex = std::make_shared<ir::Regex>(std::string_view(d->args[1]).substr(caseless ? 2 : 1), caseless);
            vars.bind_captures(*regex);
            r.regex = std::move(regex);
            r.to = vars.unchecked_template(d->args[2], d->where);
        } else {
            r.from = vars.unchecked_template(d->args[1], d->where);
            r.to = vars.unchecked_template(d->args[2], d->where);
        }
        p.redirects.push_back(std::move(r));
    }
}

}  // namespace

ir::ProxySettings merge_proxy(Compiler& c, const Scope& s, const Directive& pass, const std::string& location_name) {
    VariableScope& vars = c.http().variables;
    ir::ProxySettings p;
    p.pass = pass.args[1];
    p.pass_has_variables = has_variables(p.pass);
    p.pass_template = vars.unchecked_template(p.pass, pass.where);
    p.where = location_of(pass.where);
    if (!p.pass_has_variables) merge_proxy_target(c, pass, p);
    p.connect_timeout = ir::Msec(s.value<std::int64_t>("proxy_connect_timeout", 60000));
    p.socket_keepalive = s.value<bool>("proxy_socket_keepalive", false);
    p.ignore_client_abort = s.value<bool>("proxy_ignore_client_abort", false);
    // ngx_http_core_merge_loc_conf: the nearest resolver (one object per directive), or none.
    p.resolver = static_cast<int>(s.value<std::int64_t>("resolver", -1));
    p.resolver_timeout = ir::Msec(s.value<std::int64_t>("resolver_timeout", 30000));
    p.read_timeout = ir::Msec(s.value<std::int64_t>("proxy_read_timeout", 60000));
    p.send_timeout = ir::Msec(s.value<std::int64_t>("proxy_send_timeout", 60000));
    p.http_version_minor = static_cast<int>(s.value<std::int64_t>("proxy_http_version", 0));
    merge_proxy_headers(s, pass, p, vars);
    merge_proxy_redirects(s, pass, location_name, p, vars);
    const std::vector<const Directive*> cookie_flags = s.find_list("proxy_cookie_flags");
    if (cookie_flags.empty() || cookie_flags.front()->args[1] != "off")
        for (const Directive* d : cookie_flags) p.cookie_flags.push_back(cookie_flags_rule(*d, vars));
    p.cookie_domains = cookie_rewrite_rules(s.find_list("proxy_cookie_domain"), vars);
    p.cookie_paths = cookie_rewrite_rules(s.find_list("proxy_cookie_path"), vars);
    for (const Directive* d : s.find_list("proxy_hide_header")) p.hide_headers.push_back(d->args[1]);
    for (const Directive* d : s.find_list("proxy_pass_header")) p.pass_headers.push_back(d->args[1]);
    p.pass_request_headers = s.value<bool>("proxy_pass_request_headers", true);
    p.pass_request_body = s.value<bool>("proxy_pass_request_body", true);
    if (const Directive* d = s.find("proxy_set_body")) p.set_body = vars.unchecked_template(d->args[1], d->where);
    if (const Directive* d = s.find("proxy_method")) p.method = vars.unchecked_template(d->args[1], d->where);
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
    p.bind = merge_proxy_bind(s, vars);
    p.ssl = merge_proxy_ssl(c, s, vars);
    // proxy_pass with variables may reach https at run time, so nginx builds the context too.
    p.ssl.enabled = p.pass_has_variables || p.scheme == "https";
    if (p.ssl.enabled) p.ssl.context = build_client_tls(p.ssl, "proxy");
    return p;
}

}  // namespace ngxlite::conf
