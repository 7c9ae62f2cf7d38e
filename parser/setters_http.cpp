// The http core module's setters (ngx_http_core_module: http, server, listen, server_name,
// location, types, error_page, root/alias, ...) and the http setters' registration.
#include "parser/setters_http.hpp"

#include "parser/compiler.hpp"
#include "parser/http_state.hpp"
#include "parser/stream_state.hpp"
#include "parser/ir/url.hpp"
#include "parser/values.hpp"

#include <algorithm>

namespace ngxlite::conf {

void finish_http(Compiler& c);  // build_http.cpp: nginx's ngx_http_block after parsing

bool in_stream(const Compiler& c) { return c.context() & (kStream | kStreamServer | kStreamUpstream); }

VariableScope& vars(Compiler& c) { return in_stream(c) ? c.stream().variables : c.http().variables; }

LocationName location_name(Compiler& c, const Directive& d) {
    LocationName l;
    auto regex = [&](std::string_view pattern, bool caseless) {
        auto re = std::make_shared<ir::Regex>(pattern, caseless);
        if (!re->ok()) fail_at(d.where, re->error());
        vars(c).define_captures(*re);
        l.match = caseless ? ir::LocationMatch::regex_caseless : ir::LocationMatch::regex;
        l.name = std::string(pattern);
    };
    if (d.nargs() == 2) {
        const std::string& mod = d.args[1];
        l.name = d.args[2];
        if (mod == "=")
            l.match = ir::LocationMatch::exact;
        else if (mod == "^~")
            l.match = ir::LocationMatch::prefix_no_regex;
        else if (mod == "~")
            regex(d.args[2], false);
        else if (mod == "~*")
            regex(d.args[2], true);
        else
            fail_at(d.where, "invalid location modifier \"" + mod + "\"");
        return l;
    }
    std::string_view n = d.args[1];
    if (n.starts_with("=")) {
        l.match = ir::LocationMatch::exact;
        l.name = std::string(n.substr(1));
    } else if (n.starts_with("^~")) {
        l.match = ir::LocationMatch::prefix_no_regex;
        l.name = std::string(n.substr(2));
    } else if (n.starts_with("~*")) {
        regex(n.substr(2), true);
    } else if (n.starts_with("~")) {
        regex(n.substr(1), false);
    } else {
        l.name = std::string(n);
        if (n.starts_with("@")) l.match = ir::LocationMatch::named;
    }
    return l;
}

bool is_regex(ir::LocationMatch m) { return m == ir::LocationMatch::regex || m == ir::LocationMatch::regex_caseless; }

namespace {

std::string lower(std::string s) {
    for (auto& ch : s)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
    return s;
}

// --- blocks --------------------------------------------------------------------------

void http_block(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    c.http().http = &d;
    ir::LogFormat combined;
    combined.name = "combined";
    combined.format = vars(c).template_of(
        "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" "
        "\"$http_user_agent\"",
        d.where);
    c.http().log_formats.push_back(std::move(combined));
    c.parse_block(d, kHttp);
    finish_http(c);
}

void add_listen(Compiler& c, Directive& server, const ir::Listen& opt, bool set, bool bind,
                const SourceRef& where) {
    auto& addrs = c.http().addresses;
    for (auto& a : addrs) {
        if (!(a.options.endpoint == opt.endpoint)) continue;
        if (std::find(a.servers.begin(), a.servers.end(), &server) != a.servers.end())
            fail_at(where, "a duplicate listen " + a.addr_text);
        a.servers.push_back(&server);
        const bool ssl = opt.ssl || a.options.ssl;
        const bool http2 = opt.http2 || a.options.http2;
        const bool proxy_protocol = opt.proxy_protocol || a.options.proxy_protocol;
        const bool was_default = a.default_server != nullptr && a.options.default_server;
        if (set) {
            if (a.options_set) fail_at(where, "duplicate listen options for " + a.addr_text);
            a.options = opt;
            a.options_set = true;
            a.bind = bind;
        }
        if (opt.default_server) {
            if (was_default) fail_at(where, "a duplicate default server for " + a.addr_text);
            a.default_server = &server;
        }
        a.options.default_server = was_default || opt.default_server;
        a.options.ssl = ssl;
        a.options.http2 = http2;
        a.options.proxy_protocol = proxy_protocol;
        return;
    }
    HttpListenAddress a;
    a.options = opt;
    a.addr_text = opt.endpoint.text();
    a.options_set = set;
    a.bind = bind;
    a.default_server = &server;
    a.servers.push_back(&server);
    addrs.push_back(std::move(a));
}

void server_block(Compiler& c, Directive& d) {
    auto& st = c.http();
    st.servers.push_back({&d, false, {}, {}, std::nullopt});
    const std::size_t index = st.servers.size() - 1;
    c.parse_block(d, kHttpServer);
    auto& info = c.http().servers[index];
    if (info.names.empty() && info.regex_names.empty()) info.names.push_back("");
    if (!info.has_listen) {
        // nginx listens on *:80 by default, or *:8000 when not started as root.
        ir::Listen opt;
        opt.endpoint = {"0.0.0.0", static_cast<std::uint16_t>(::getuid() == 0 ? 80 : 8000), false};
        opt.wildcard = true;
        opt.where = location_of(d.where);
        add_listen(c, d, opt, false, false, d.where);
    }
}

Directive& enclosing_server(Compiler& c) { return *c.http().servers.back().server; }

void listen(Compiler& c, Directive& d) {
    auto& info = c.http().servers.back();
    info.has_listen = true;
    ir::UrlOptions o;
    o.listen = true;
    o.default_port = 80;
    // A port range ("addr:8000-8010", "8000-8010"), as Debian's nginx takes it: one
    // listen per port.
    std::string address = d.args[1];
    std::uint16_t last_port = 0;
    if (!iequals(std::string_view(address).substr(0, 5), "unix:")) {
        const std::size_t colon = address.starts_with("[") ? address.find("]:") : address.rfind(':');
        const std::size_t start = colon == std::string::npos ? 0 : colon + (address.starts_with("[") ? 2 : 1);
        const std::size_t dash = address.find('-', start);
        if (dash != std::string::npos && address.find_first_of("/?", start) == std::string::npos) {
            const auto port = [](std::string_view v) -> std::optional<std::uint16_t> {
                auto n = parse_number(v);
                if (!n || *n < 1 || *n > 65535) return std::nullopt;
                return static_cast<std::uint16_t>(*n);
            };
            const auto first = port(std::string_view(address).substr(start, dash - start));
            const auto last = port(std::string_view(address).substr(dash + 1));
            if (!first || !last) fail_at(d.where, "invalid port in \"" + d.args[1] + "\" of the \"listen\" directive");
            if (*last < *first) fail_at(d.where, "invalid port range in \"" + d.args[1] + "\" of the \"listen\" directive");
            address = address.substr(0, start) + std::to_string(*first);
            last_port = *last;
        }
    }
    ir::ParsedUrl u = ir::parse_url(address, o);
    if (!u.err.empty()) fail_at(d.where, u.err + " in \"" + d.args[1] + "\" of the \"listen\" directive");
    ir::Listen opt;
    opt.where = location_of(d.where);
    bool set = false, bind = false;
    for (std::size_t i = 2; i < d.args.size(); ++i) {
        const std::string& a = d.args[i];
        auto value_of = [&](std::string_view key) { return std::string_view(a).substr(key.size()); };
        if (a == "default_server" || a == "default") {
            opt.default_server = true;
        } else if (a == "bind") {
            set = bind = true;
        } else if (listen_socket_option(a, d.where, opt)) {
            set = bind = true;
        } else if (a.starts_with("accept_filter=")) {
            c.warn_at(d.where, "accept filters \"" + a + "\" are not supported on this platform, ignored", Level::emerg);
        } else if (a.starts_with("backlog=")) {
            set = bind = true;
            auto n = parse_number(value_of("backlog="));
            if (!n || *n == 0) fail_at(d.where, "invalid backlog \"" + std::string(value_of("backlog=")) + "\"");
            opt.backlog = static_cast<int>(*n);
        } else if (a == "deferred") {
            opt.deferred = true;
            set = bind = true;
        } else if (a.starts_with("ipv6only=")) {
            if (value_of("ipv6only=") == "on")
                opt.ipv6only = true;
            else if (value_of("ipv6only=") == "off")
                opt.ipv6only = false;
            else
                fail_at(d.where, "invalid ipv6only flags \"" + std::string(value_of("ipv6only=")) + "\"");
            set = bind = true;
        } else if (a == "reuseport") {
            opt.reuseport = true;
            set = bind = true;
        } else if (a == "ssl") {
            opt.ssl = true;
        } else if (a == "http2") {
            opt.http2 = true;
        } else if (a == "spdy") {
            c.warn_at(d.where, "invalid parameter \"spdy\": ngx_http_spdy_module was superseded by "
                               "ngx_http_v2_module");
        } else if (a == "proxy_protocol") {
            opt.proxy_protocol = true;
        } else {
            fail_at(d.where, "invalid parameter \"" + a + "\"");
        }
    }
    opt.endpoint = u.addrs.at(0);
    opt.wildcard = u.wildcard;
    for (unsigned p = opt.endpoint.port; p <= std::max<unsigned>(opt.endpoint.port, last_port); ++p) {
        opt.endpoint.port = static_cast<std::uint16_t>(p);
        add_listen(c, enclosing_server(c), opt, set, bind, d.where);
    }
}

void server_name(Compiler& c, Directive& d) {
    auto& info = c.http().servers.back();
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        const std::string& v = d.args[i];
        const char ch = v.empty() ? '\0' : v[0];
        if ((ch == '*' && (v.size() < 3 || v[1] != '.')) || (ch == '.' && v.size() < 2))
            fail_at(d.where, "server name \"" + v + "\" is invalid");
        if (v.find('/') != std::string::npos)
            c.warn_at(d.where, "server name \"" + v + "\" has suspicious symbols");
        if (!info.first_name) info.first_name = ch == '~' ? v : lower(v);
        if (ch == '~') {
            // Caseless when the pattern has an upper-case letter, as nginx compiles it.
            const bool upper = std::any_of(v.begin() + 1, v.end(), [](char x) { return x >= 'A' && x <= 'Z'; });
            auto re = std::make_shared<ir::Regex>(std::string_view(v).substr(1), upper);
            if (!re->ok()) fail_at(d.where, re->error());
            vars(c).define_captures(*re);
            info.regex_names.push_back(std::move(re));
            continue;
        }
        info.names.push_back(lower(iequals(v, "$hostname") ? std::string("$hostname") : v));
    }
}

void location(Compiler& c, Directive& d) {
    LocationName l = location_name(c, d);
    if (c.context() == kHttpLocation) {
        const Directive& parent = *c.block().opener;
        LocationName p = location_name(c, parent);
        if (p.match == ir::LocationMatch::exact)
            fail_at(d.where, "location \"" + l.name + "\" cannot be inside the exact location \"" + p.name + "\"");
        if (p.match == ir::LocationMatch::named)
            fail_at(d.where, "location \"" + l.name + "\" cannot be inside the named location \"" + p.name + "\"");
        if (l.match == ir::LocationMatch::named)
            fail_at(d.where, "named location \"" + l.name + "\" can be on the server level only");
        if (!is_regex(l.match) && l.name.compare(0, p.name.size(), p.name) != 0)
            fail_at(d.where, "location \"" + l.name + "\" is outside location \"" + p.name + "\"");
    }
    c.parse_block(d, kHttpLocation);
}

void limit_except(Compiler& c, Directive& d) {
    static constexpr std::string_view methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY",
                                                   "MOVE", "OPTIONS", "PROPFIND", "PROPPATCH", "LOCK",
                                                   "UNLOCK", "PATCH"};
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        bool ok = false;
        for (auto m : methods) ok = ok || iequals(m, d.args[i]);
        if (!ok) fail_at(d.where, "invalid method \"" + d.args[i] + "\"");
    }
    if (c.block().find_all("limit_except").size() > 1) fail_directive(d, "is duplicate");
    c.parse_block(d, kHttpLimitExcept);
}

// ngx_http_disable_symlinks: off | on | if_not_owner, and from=VALUE with the last two.
void disable_symlinks(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    bool mode = false, from = false;
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        const std::string& a = d.args[i];
        if (a == "off" || a == "on" || a == "if_not_owner") {
            mode = true;
            d.value = a == "off" ? 0 : a == "if_not_owner" ? 1 : 2;
        } else if (a.starts_with("from=")) {
            vars(c).compile(a.substr(5), d.where);
            from = true;
        } else {
            fail_at(d.where, "invalid parameter \"" + a + "\"");
        }
    }
    if (!mode) fail_at(d.where, "\"" + d.name() + "\" must have \"off\", \"on\" or \"if_not_owner\" parameter");
    if (d.nargs() == 1) return;
    if (!from) fail_at(d.where, "duplicate parameters \"" + d.args[1] + " " + d.args[2] + "\"");
    if (d.value == 0) fail_at(d.where, "\"from=\" cannot be used with \"off\" parameter");
}

void types_block(Compiler& c, Directive& d) {
    auto types = std::make_shared<ir::MimeTypes>();
    c.parse_custom_block(d, true, [&](Directive& line) {
        for (std::size_t i = 1; i < line.args.size(); ++i) {
            std::string ext = lower(line.args[i]);
            if (types->count(ext) && (*types)[ext] != line.args[0])
                c.warn_at(line.where, "duplicate extension \"" + line.args[i] + "\", content type: \"" +
                                          line.args[0] + "\", previous content type: \"" + (*types)[ext] + "\"");
            (*types)[ext] = line.args[0];
        }
    });
    c.http().types[&d] = std::move(types);
}

void charset_map_block(Compiler& c, Directive& d) { c.parse_custom_block(d, false, [](Directive&) {}); }

void all_args_script(Compiler& c, Directive& d) {
    for (std::size_t i = 1; i < d.args.size(); ++i) vars(c).compile(d.args[i], d.where);
}

void second_arg_script(Compiler& c, Directive& d) {
    if (d.nargs() >= 2) vars(c).compile(d.args[2], d.where);
}

void headers_add(Compiler& c, Directive& d) {
    vars(c).compile(d.args[2], d.where);
    if (d.nargs() == 3 && d.args[3] != "always") fail_at(d.where, "invalid parameter \"" + d.args[3] + "\"");
}

void predicate(Compiler& c, Directive& d) { all_args_script(c, d); }

void error_page(Compiler& c, Directive& d) {
    std::size_t last = d.args.size() - 1;
    const std::string& uri = d.args[last];
    std::size_t codes_end = last;
    if (d.args[last - 1].starts_with("=")) {
        codes_end = last - 1;
        std::string_view resp = std::string_view(d.args[last - 1]).substr(1);
        if (!resp.empty() && !parse_number(resp))
            fail_at(d.where, "invalid value \"" + d.args[last - 1] + "\"");
    }
    vars(c).compile(uri, d.where);
    if (codes_end < 2) fail_at(d.where, "invalid number of arguments in \"error_page\" directive");
    for (std::size_t i = 1; i < codes_end; ++i) {
        auto n = parse_number(d.args[i]);
        if (!n) fail_at(d.where, "invalid value \"" + d.args[i] + "\"");
        if (*n < 300 || *n > 599) fail_at(d.where, "value \"" + d.args[i] + "\" must be between 300 and 599");
    }
}

void root_or_alias(Compiler& c, Directive& d) {
    const Block& b = c.block();
    for (const auto& other : b.directives) {
        if (other.get() == &d) break;
        if (other->name() == "root" || other->name() == "alias") {
            if (other->name() == d.name()) fail_directive(d, "is duplicate");
            fail_at(d.where, "\"" + d.name() + "\" directive is duplicate, \"" + other->name() +
                                 "\" directive was specified earlier");
        }
    }
    if (d.name() == "alias" && c.context() == kHttpLocation) {
        LocationName l = location_name(c, *b.opener);
        if (l.match == ir::LocationMatch::named)
            fail_at(d.where, "\"alias\" directive cannot be used inside the named location");
    }
    vars(c).compile(d.args[1], d.where);
}

void keepalive_timeout(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    auto t = parse_time(d.args[1], false);
    if (!t) fail_directive(d, "invalid value");
    if (d.nargs() == 2 && !parse_time(d.args[2], true)) fail_directive(d, "invalid value");
    d.value = *t;
}

void try_files(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    all_args_script(c, d);
}

}  // namespace

void register_http_setters(SetterTable& t) {
    t["ngx_http_block"] = http_block;
    t["ngx_http_core_server"] = server_block;
    t["ngx_http_core_listen"] = listen;
    t["ngx_http_core_server_name"] = server_name;
    t["ngx_http_core_location"] = location;
    t["ngx_http_core_limit_except"] = limit_except;
    t["ngx_http_disable_symlinks"] = disable_symlinks;
    t["ngx_http_core_types"] = types_block;
    t["ngx_http_core_error_page"] = error_page;
    t["ngx_http_core_root"] = root_or_alias;
    t["ngx_http_core_keepalive"] = keepalive_timeout;
    t["ngx_http_core_internal"] = [](Compiler& c, Directive& d) { reject_duplicate(c, d); };
    t["ngx_http_charset_map_block"] = charset_map_block;
    t["ngx_http_set_complex_value_slot"] = complex_value;
    t["ngx_http_set_complex_value_zero_slot"] = complex_value;
    t["ngx_http_set_complex_value_size_slot"] = complex_value_size;
    t["ngx_http_set_predicate_slot"] = predicate;
    t["ngx_http_headers_add"] = headers_add;
    t["ngx_http_access_rule"] = access_rule;
    t["ngx_http_auth_basic_user_file"] = complex_value;
    t["ngx_http_try_files"] = try_files;
    t["ngx_http_index_set_index"] = all_args_script;
    t["ngx_http_upstream_param_set_slot"] = second_arg_script;
    t["ngx_http_memcached_pass"] = [](Compiler& c, Directive& d) {
        reject_duplicate(c, d);
        vars(c).reference("memcached_key");  // the key is what `set $memcached_key` gives
    };
    t["ngx_http_proxy_cache_key"] = complex_value;
    t["ngx_http_fastcgi_cache_key"] = complex_value;
    t["ngx_http_uwsgi_cache_key"] = complex_value;
    t["ngx_http_scgi_cache_key"] = complex_value;
    register_http_rewrite_setters(t);
    register_http_upstream_setters(t);
    register_http_log_setters(t);
    register_http_gzip_setters(t);
    register_http_ssl_setters(t);
    register_http_limit_setters(t);
}

}  // namespace ngxlite::conf
