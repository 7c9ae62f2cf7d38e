// The stream modules' setters (nginx's ngx_stream_*), and what stream{} does after
// its closing brace: merge servers, initialise upstreams, check variables.
#include "parser/compiler.hpp"
#include "parser/ir/address.hpp"
#include "parser/merge.hpp"
#include "parser/setters.hpp"
#include "parser/stream_state.hpp"
#include "parser/tls_check.hpp"
#include "parser/upstreams.hpp"
#include "parser/ir/url.hpp"
#include "parser/values.hpp"

#include <algorithm>
#include <cctype>

namespace ngxlite::conf {

namespace {

VariableScope& vars(Compiler& c) { return c.stream().variables; }

void finish_stream(Compiler& c);

void stream_block(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    c.stream().stream = &d;
    c.parse_block(d, kStream);
    finish_stream(c);
}

void server_block(Compiler& c, Directive& d) {
    c.stream().servers.push_back({&d, {}, {}, nullptr});
    c.parse_block(d, kStreamServer);
}

void listen(Compiler& c, Directive& d) {
    ir::UrlOptions o;
    o.listen = true;
    ir::ParsedUrl u = ir::parse_url(d.args[1], o);
    if (!u.err.empty()) fail_at(d.where, u.err + " in \"" + d.args[1] + "\" of the \"listen\" directive");
    ir::Listen l;
    l.where = location_of(d.where);
    for (std::size_t i = 2; i < d.args.size(); ++i) {
        const std::string& a = d.args[i];
        if (a == "udp") l.udp = true;
        else if (a == "bind") l.bind = true;
        else if (a == "ssl") l.ssl = true;
        else if (a == "reuseport") l.reuseport = l.bind = true;
        else if (a == "proxy_protocol") l.proxy_protocol = true;
        else if (a.starts_with("backlog=")) {
            auto n = parse_number(std::string_view(a).substr(8));
            if (!n || *n == 0) fail_at(d.where, "invalid backlog \"" + a.substr(8) + "\"");
            l.backlog = static_cast<int>(*n);
            l.bind = true;
        } else if (a.starts_with("ipv6only=")) {
            if (a != "ipv6only=on" && a != "ipv6only=off") fail_at(d.where, "invalid ipv6only flags \"" + a.substr(9) + "\"");
            l.ipv6only = a == "ipv6only=on";
            l.bind = true;
        } else if (!listen_socket_option(a, d.where, l)) {
            fail_at(d.where, "the invalid \"" + a + "\" parameter");  // ngx_stream_core_listen's wording
        }
    }
    l.endpoint = u.addrs.at(0);
    l.wildcard = u.wildcard;
    for (const auto& s : c.stream().servers)
        for (const auto& other : s.listens)
            if (other.endpoint == l.endpoint && other.udp == l.udp)
                fail_at(d.where, "duplicate \"" + d.args[1] + "\" address and port pair");
    auto& info = c.stream().servers.back();
    if (l.ssl && !info.ssl_listen) info.ssl_listen = &d;
    info.listens.push_back(l);
}

void upstream_block(Compiler& c, Directive& d) { conf::upstream_block(c, d, c.stream().upstreams, kStreamUpstream); }

void upstream_server(Compiler& c, Directive& d) { conf::upstream_server(c, d, c.stream().upstreams, 0); }

UpstreamInfo& current_upstream(Compiler& c) { return conf::current_upstream(c, c.stream().upstreams); }

void balancer(Compiler& c, Directive& d) {
    UpstreamInfo& up = current_upstream(c);
    if (up.balancer_set) c.warn_at(d.where, "load balancing method redefined");
    up.balancer_set = true;
    if (d.name() == "least_conn") up.balancer = ir::Balancer::least_conn;
    else if (d.name() == "random") up.balancer = d.nargs() ? ir::Balancer::random_two : ir::Balancer::random;
    else {
        vars(c).compile(d.args[1], d.where);
        up.balancer = d.nargs() == 2 ? ir::Balancer::hash_consistent : ir::Balancer::hash;
    }
}

void proxy_pass(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    if (vars(c).compile(d.args[1], d.where)) return;
    ir::UrlOptions o;
    o.no_resolve = true;
    ir::ParsedUrl u = ir::parse_url(d.args[1], o);
    if (!u.err.empty()) fail_at(d.where, u.err + " in upstream \"" + d.args[1] + "\"");
    add_upstream(c.stream().upstreams, d, u, u.unix_socket ? u.addrs.at(0).text() : d.args[1], false);
}

void finish_stream(Compiler& c) {
    StreamState& st = c.stream();
    ir::StreamConfig stream;
    const Scope top(std::vector<const Block*>{st.stream->block.get()});
    // core module merge: every server needs a handler.
    for (const auto& info : st.servers) {
        const Block& b = *info.server->block;
        if (!b.find("proxy_pass") && !b.find("return"))
            fail("no handler for server" + at(info.server->where));
    }
    // proxy module merge: the upstream TLS context.
    for (const auto& info : st.servers) {
        const Scope s = top.child(info.server->block.get());
        ir::StreamServer server;
        server.where = location_of(info.server->where);
        server.listens = info.listens;
        if (const Directive* p = s.innermost().find("proxy_pass")) {
            server.proxy_pass = p->args[1];
            server.pass_has_variables = has_variables(server.proxy_pass);
            if (server.pass_has_variables) server.pass_template = st.variables.unchecked_template(server.proxy_pass, p->where);
            if (!server.pass_has_variables) {
                // The group it reaches, found as ngx_stream_upstream_add found it.
                ir::UrlOptions o;
                o.no_resolve = true;
                const ir::ParsedUrl u = ir::parse_url(server.proxy_pass, o);
                server.upstream_index = find_upstream(st.upstreams, u);
                if (server.upstream_index < 0)  // the setter registered one
                    fail("no upstream for \"" + server.proxy_pass + "\"" + at(p->where));
            }
        }
        for (const Directive* d : s.innermost().find_all("set"))
            server.sets.emplace_back(st.variables.assigned(variable_target(*d, 1)),
                                     st.variables.unchecked_template(d->args[2], d->where));
        // proxy_pass and return both set the content handler: the later one serves.
        const Directive* handler = nullptr;
        for (const auto& d : s.innermost().directives)
            if (d->name() == "proxy_pass" || d->name() == "return") handler = d.get();
        if (handler && handler->name() == "return") server.return_value = st.variables.unchecked_template(handler->args[1], handler->where);
        if (const Block* b = s.innermost_with({"allow", "deny"}))
            for (const auto& d : b->directives)
                if (d->name() == "allow" || d->name() == "deny") server.access_rules.push_back(access_rule_of(*d));
        server.access_logs = merge_access_logs(c, s, st.log_formats, st.variables);
        server.error_log = merge_error_log(c, s);
        server.ssl_preread = s.value<bool>("ssl_preread", false);
        server.preread_buffer_size = s.value<std::int64_t>("preread_buffer_size", 16384);
        server.preread_timeout = ir::Msec(s.value<std::int64_t>("preread_timeout", 30000));
        server.half_close = s.value<bool>("proxy_half_close", false);
        server.socket_keepalive = s.value<bool>("proxy_socket_keepalive", false);
        server.proxy_protocol = s.value<bool>("proxy_protocol", false);
        server.upload_rate = merge_complex_size(s, "proxy_upload_rate", st.variables);
        server.download_rate = merge_complex_size(s, "proxy_download_rate", st.variables);
        server.bind = merge_proxy_bind(s, st.variables);
        server.ssl_handshake_timeout = ir::Msec(s.value<std::int64_t>("ssl_handshake_timeout", 60000));
        server.next_upstream = s.value<bool>("proxy_next_upstream", true);
        server.next_upstream_tries = s.value<int>("proxy_next_upstream_tries", 0);
        server.next_upstream_timeout = ir::Msec(s.value<std::int64_t>("proxy_next_upstream_timeout", 0));
        server.connect_timeout = ir::Msec(s.value<std::int64_t>("proxy_connect_timeout", 60000));
        server.timeout = ir::Msec(s.value<std::int64_t>("proxy_timeout", 600000));
        server.resolver = static_cast<int>(s.value<std::int64_t>("resolver", -1));
        server.resolver_timeout = ir::Msec(s.value<std::int64_t>("resolver_timeout", 30000));
        server.buffer_size = s.value<std::int64_t>("proxy_buffer_size", 16384);
        server.proxy_requests = s.value<std::int64_t>("proxy_requests", 0);
        server.proxy_responses = s.value<std::int64_t>("proxy_responses", 0x7fffffff);
        server.ssl = merge_proxy_ssl(c, s, st.variables);
        server.ssl.enabled = s.value<bool>("proxy_ssl", false);
        if (server.ssl.enabled) server.ssl.context = build_client_tls(server.ssl, "proxy");
        stream.servers.push_back(std::move(server));
    }
    // upstream module: implicit upstreams need a port and must resolve.
    for (const auto& up : st.upstreams) stream.upstreams.push_back(init_upstream(*up, true, st.variables));
    // ssl module merge (ngx_stream_ssl_merge_conf): only a server with `listen ... ssl`
    // builds its context, and needs a certificate.
    for (std::size_t i = 0; i < st.servers.size(); ++i) {
        const auto& info = st.servers[i];
        if (!info.ssl_listen) continue;
        const Scope s = top.child(info.server->block.get());
        if (s.find_list("ssl_certificate").empty())
            fail("no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive" + at(info.ssl_listen->where));
        stream.servers[i].ssl_server = merge_server_ssl(c, s, st.variables);
        if (const Directive* alpn = s.find("ssl_alpn"))
            for (std::size_t a = 1; a < alpn->args.size(); ++a)
                stream.servers[i].ssl_server->alpn += static_cast<char>(alpn->args[a].size()) + alpn->args[a];
    }
    st.variables.check(c.modules());
    stream.log_formats = std::move(st.log_formats);
    stream.maps = std::move(st.maps);
    stream.variables = st.variables.resolve(stream.maps);
    c.config().stream = std::move(stream);
}

// --- mail: checked as nginx checks it; ngxlite does not serve mail ---------------------

void mail_block(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    c.parse_block(d, kMail);
    const Scope top(std::vector<const Block*>{d.block.get()});
    for (Directive* server : c.mail().servers) {
        const Scope s = top.child(server->block.get());
        if (!s.find("auth_http")) fail("no \"auth_http\" is defined for server" + at(server->where));
    }
}

void mail_server(Compiler& c, Directive& d) {
    c.mail().servers.push_back(&d);
    c.parse_block(d, kMailServer);
}

void mail_protocol(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    if (d.args[1] != "imap" && d.args[1] != "pop3" && d.args[1] != "smtp")
        fail_at(d.where, "unknown protocol \"" + d.args[1] + "\"");
}

void mail_listen(Compiler& c, Directive& d) {
    ir::UrlOptions o;
    o.listen = true;
    ir::ParsedUrl u = ir::parse_url(d.args[1], o);
    if (!u.err.empty()) fail_at(d.where, u.err + " in \"" + d.args[1] + "\" of the \"listen\" directive");
    if (u.unix_socket) return;
    ir::Listen l;
    l.endpoint = u.addrs.at(0);
    l.wildcard = u.wildcard;
    l.bind = true;
    for (const auto& other : c.config().mail_listens)
        if (other.endpoint == l.endpoint) fail_at(d.where, "duplicate \"" + d.args[1] + "\" address and port pair");
    c.config().mail_listens.push_back(l);
}

}  // namespace

void register_stream_setters(SetterTable& t) {
    t["ngx_stream_block"] = stream_block;
    t["ngx_stream_core_server"] = server_block;
    t["ngx_stream_core_listen"] = listen;
    t["ngx_stream_access_rule"] = access_rule;
    t["ngx_stream_upstream"] = upstream_block;
    t["ngx_stream_upstream_server"] = upstream_server;
    t["ngx_stream_upstream_hash"] = balancer;
    t["ngx_stream_upstream_least_conn"] = balancer;
    t["ngx_stream_upstream_random"] = balancer;
    t["ngx_stream_proxy_pass"] = proxy_pass;
    t["ngx_stream_proxy_bind"] = conf::proxy_bind;
    t["ngx_stream_set_complex_value_slot"] = complex_value;
    t["ngx_stream_set_complex_value_zero_slot"] = complex_value;
    t["ngx_stream_set_complex_value_size_slot"] = complex_value_size;
    t["ngx_stream_return"] = complex_value;
    t["ngx_stream_set"] = set_variable;
    t["ngx_stream_map_block"] = conf::map_block;
    t["ngx_stream_geo_block"] = conf::geo_block;
    t["ngx_stream_log_set_format"] = conf::log_format;
    t["ngx_stream_log_set_log"] = conf::access_log;
    t["ngx_stream_log_open_file_cache"] = conf::open_log_file_cache;
}

void register_mail_setters(SetterTable& t) {
    t["ngx_mail_block"] = mail_block;
    t["ngx_mail_core_server"] = mail_server;
    t["ngx_mail_core_protocol"] = mail_protocol;
    t["ngx_mail_core_listen"] = mail_listen;
}

}  // namespace ngxlite::conf
