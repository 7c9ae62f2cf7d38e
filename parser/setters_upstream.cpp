// The http upstream {} and proxy setters: balancers, keepalive, zone, proxy_pass,
// proxy_redirect; and what stream shares with them: a `server` line's parameters, proxy_bind.
#include "parser/setters_http.hpp"

#include "parser/compiler.hpp"
#include "parser/http_state.hpp"
#include "parser/ir/address.hpp"
#include "parser/upstreams.hpp"
#include "parser/ir/url.hpp"
#include "parser/values.hpp"

namespace ngxlite::conf {

namespace {

void upstream_block(Compiler& c, Directive& d) { conf::upstream_block(c, d, c.http().upstreams, kHttpUpstream); }

void upstream_server(Compiler& c, Directive& d) { conf::upstream_server(c, d, c.http().upstreams, 80); }

UpstreamInfo& current_upstream(Compiler& c) { return conf::current_upstream(c, c.http().upstreams); }

void set_balancer(Compiler& c, Directive& d, ir::Balancer b) {
    UpstreamInfo& up = current_upstream(c);
    if (up.balancer_set) c.warn_at(d.where, "load balancing method redefined");
    up.balancer = b;
    up.balancer_set = true;
}

void upstream_hash(Compiler& c, Directive& d) {
    vars(c).compile(d.args[1], d.where);
    if (d.nargs() == 2 && d.args[2] != "consistent") fail_at(d.where, "invalid parameter \"" + d.args[2] + "\"");
    set_balancer(c, d, d.nargs() == 2 ? ir::Balancer::hash_consistent : ir::Balancer::hash);
}
void upstream_ip_hash(Compiler& c, Directive& d) { set_balancer(c, d, ir::Balancer::ip_hash); }
void upstream_least_conn(Compiler& c, Directive& d) { set_balancer(c, d, ir::Balancer::least_conn); }
void upstream_random(Compiler& c, Directive& d) {
    if (d.nargs() >= 1 && d.args[1] != "two") fail_at(d.where, "invalid parameter \"" + d.args[1] + "\"");
    if (d.nargs() == 2 && d.args[2] != "least_conn" && d.args[2] != "least_time=header" &&
        d.args[2] != "least_time=last_byte")
        fail_at(d.where, "invalid parameter \"" + d.args[2] + "\"");
    set_balancer(c, d, d.nargs() >= 1 ? ir::Balancer::random_two : ir::Balancer::random);
}
void upstream_keepalive(Compiler& c, Directive& d) {
    auto n = parse_number(d.args[1]);
    if (!n || *n == 0) fail_at(d.where, "invalid value \"" + d.args[1] + "\" in \"" + d.name() + "\" directive");
    if (c.block().find_all("keepalive").size() > 1) fail_directive(d, "is duplicate");
    d.value = *n;
}
void upstream_zone(Compiler& c, Directive& d) {
    std::int64_t size = 0;
    if (d.nargs() == 2) {
        auto s = parse_size(d.args[2]);
        if (!s) fail_at(d.where, "invalid zone size \"" + d.args[2] + "\"");
        if (*s < 8 * 4096) fail_at(d.where, "zone \"" + d.args[1] + "\" is too small");
        size = *s;
    }
    if (size) c.zones().declare(d.args[1], size); else c.zones().reference(d.args[1]);
}

bool location_has_no_uri_rule(Compiler& c) {
    // nginx: regex locations, named locations, `if` and `limit_except` blocks.
    const Context ctx = c.context();
    if (ctx == kHttpLocationIf || ctx == kHttpLimitExcept) return true;
    if (ctx != kHttpLocation) return false;
    LocationName l = location_name(c, *c.block().opener);
    return is_regex(l.match) || l.match == ir::LocationMatch::named;
}

void proxy_pass(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    const std::string& url = d.args[1];
    if (vars(c).compile(url, d.where)) return;
    std::size_t skip;
    std::uint16_t port;
    if (url.size() >= 7 && iequals(url.substr(0, 7), "http://")) {
        skip = 7;
        port = 80;
    } else if (url.size() >= 8 && iequals(url.substr(0, 8), "https://")) {
        skip = 8;
        port = 443;
    } else {
        fail_at(d.where, "invalid URL prefix");
    }
    ir::UrlOptions o;
    o.default_port = port;
    o.uri_part = true;
    o.no_resolve = true;
    ir::ParsedUrl u = ir::parse_url(std::string_view(url).substr(skip), o);
    if (!u.err.empty()) fail_at(d.where, u.err + " in upstream \"" + url.substr(skip) + "\"");
    const std::string name = u.unix_socket ? u.addrs.at(0).text() : url.substr(skip, url.size() - skip - u.uri.size());
    add_upstream(c.http().upstreams, d, u, name, false);
    if (!u.uri.empty() && location_has_no_uri_rule(c))
        fail_at(d.where, "\"proxy_pass\" cannot have URI part in location given by regular expression, "
                         "or inside named location, or inside \"if\" statement, or inside \"limit_except\" "
                         "block");
}

void proxy_redirect(Compiler& c, Directive& d) {
    if (d.nargs() == 1 && (d.args[1] == "default" || d.args[1] == "off")) return;
    if (d.nargs() == 1) fail_at(d.where, "invalid parameter \"" + d.args[1] + "\"");
    for (std::size_t i = 1; i < d.args.size(); ++i)
        if (d.args[i][0] != '~') vars(c).compile(d.args[i], d.where);
}

}  // namespace

// ngx_http_upstream_bind_set_slot and ngx_stream_proxy_bind: "off", an address checked
// now or a value with variables checked per connection, then "transparent" alone.
void proxy_bind(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    if (d.args.size() == 2 && d.args[1] == "off") return;
    if (!vars(c).compile(d.args[1], d.where) && !ir::parse_addr_port(d.args[1]))
        fail_at(d.where, "invalid address \"" + d.args[1] + "\"");
    if (d.args.size() > 2 && d.args[2] != "transparent") fail_at(d.where, "invalid parameter \"" + d.args[2] + "\"");
}

bool supports_backup(ir::Balancer b) { return b == ir::Balancer::round_robin || b == ir::Balancer::least_conn; }

// `server` inside upstream {}: nginx's ngx_http_upstream_server (and the stream one).

ir::UpstreamServer parse_upstream_server(const Directive& d, bool resolve, std::uint16_t default_port,
                                         bool backup_supported) {
    ir::UpstreamServer s;
    s.name = d.args[1];
    auto invalid = [&](const std::string& a) { fail_at(d.where, "invalid parameter \"" + a + "\""); };
    for (std::size_t i = 2; i < d.args.size(); ++i) {
        const std::string& a = d.args[i];
        auto num = [&](std::size_t skip) { return parse_number(std::string_view(a).substr(skip)); };
        if (a.starts_with("weight=")) {
            auto n = num(7);
            if (!n || *n == 0) invalid(a);
            s.weight = static_cast<int>(*n);
        } else if (a.starts_with("max_fails=")) {
            auto n = num(10);
            if (!n) invalid(a);
            s.max_fails = static_cast<int>(*n);
        } else if (a.starts_with("max_conns=")) {
            auto n = num(10);
            if (!n) invalid(a);
            s.max_conns = static_cast<int>(*n);
        } else if (a.starts_with("fail_timeout=")) {
            auto t = parse_time(std::string_view(a).substr(13), true);
            if (!t) invalid(a);
            s.fail_timeout = ir::Msec(*t * 1000);
        } else if (a == "backup") {
            if (!backup_supported) fail_at(d.where, "balancing method does not support parameter \"backup\"");
            s.backup = true;
        } else if (a == "down") {
            s.down = true;
        } else {
            invalid(a);
        }
    }
    ir::UrlOptions o;
    o.default_port = default_port;
    o.no_resolve = !resolve;
    ir::ParsedUrl u = ir::parse_url(d.args[1], o);
    if (!u.err.empty()) fail_at(d.where, u.err + " in upstream \"" + d.args[1] + "\"");
    if (default_port == 0 && u.no_port && !u.unix_socket)
        fail_at(d.where, "no port in upstream \"" + d.args[1] + "\"");
    s.endpoints = u.addrs;
    return s;
}

void register_http_upstream_setters(SetterTable& t) {
    t["ngx_http_upstream"] = upstream_block;
    t["ngx_http_upstream_server"] = upstream_server;
    t["ngx_http_upstream_hash"] = upstream_hash;
    t["ngx_http_upstream_ip_hash"] = upstream_ip_hash;
    t["ngx_http_upstream_least_conn"] = upstream_least_conn;
    t["ngx_http_upstream_random"] = upstream_random;
    t["ngx_http_upstream_keepalive"] = upstream_keepalive;
    t["ngx_http_upstream_zone"] = upstream_zone;
    t["ngx_http_proxy_pass"] = proxy_pass;
    t["ngx_http_proxy_redirect"] = proxy_redirect;
    t["ngx_http_proxy_cookie_flags"] = proxy_cookie_flags;
    t["ngx_http_proxy_cookie_domain"] = proxy_cookie_rewrite;
    t["ngx_http_proxy_cookie_path"] = proxy_cookie_rewrite;
    t["ngx_http_upstream_bind_set_slot"] = proxy_bind;
}

}  // namespace ngxlite::conf
