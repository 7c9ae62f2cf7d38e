// The http modules' setters: nginx's ngx_http_core_module, rewrite, map, upstream,
// proxy, log, headers, ssl, limit_* handlers, with their checks and messages.
#include "parser/compiler.hpp"
#include "parser/ir/address.hpp"
#include "parser/http_state.hpp"
#include "parser/stream_state.hpp"
#include "parser/setters.hpp"
#include "parser/syslog.hpp"
#include "parser/upstreams.hpp"
#include "parser/url.hpp"
#include "parser/values.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <tuple>
#include <cerrno>
#include <cstring>

namespace ngxlite::conf {

void finish_http(Compiler& c);  // build_http.cpp: nginx's ngx_http_block after parsing

namespace {

bool in_stream(const Compiler& c) { return c.context() & (kStream | kStreamServer | kStreamUpstream); }

// split_clients, include, map and the log module are shared with stream: pick by context.
VariableScope& vars(Compiler& c) { return in_stream(c) ? c.stream().variables : c.http().variables; }
std::vector<ir::LogFormat>& log_formats(Compiler& c) { return in_stream(c) ? c.stream().log_formats : c.http().log_formats; }

bool has_log_format(Compiler& c, std::string_view name) {
    const auto& formats = log_formats(c);
    return std::any_of(formats.begin(), formats.end(), [&](const auto& f) { return f.name == name; });
}

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
    UrlOptions o;
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
    ParsedUrl u = parse_url(address, o);
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
            for (const auto& n : re->names()) vars(c).define(n);
            info.regex_names.push_back(std::move(re));
            continue;
        }
        info.names.push_back(lower(iequals(v, "$hostname") ? std::string("$hostname") : v));
    }
}

struct LocationName {
    ir::LocationMatch match = ir::LocationMatch::prefix;
    std::string name;
};

LocationName location_name(Compiler& c, const Directive& d) {
    LocationName l;
    auto regex = [&](std::string_view pattern, bool caseless) {
        auto re = std::make_shared<ir::Regex>(pattern, caseless);
        if (!re->ok()) fail_at(d.where, re->error());
        for (const auto& n : re->names()) vars(c).define(n);
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

// --- rewrite module ------------------------------------------------------------------

// `if (...)`: nginx's ngx_http_rewrite_if_condition.
void if_block(Compiler& c, Directive& d) {
    std::vector<std::string> a(d.args.begin() + 1, d.args.end());
    std::vector<bool> quoted(d.quoted.begin() + 1, d.quoted.end());
    auto invalid = [&](const std::string& what) { fail_at(d.where, "invalid condition \"" + what + "\""); };
    // Strip the parentheses the tokenizer left on the first and last words.
    if (a.front().empty() || a.front()[0] != '(') invalid(a.front());
    if (a.front().size() == 1) {
        a.erase(a.begin());
        quoted.erase(quoted.begin());
    } else {
        a.front().erase(0, 1);
    }
    if (a.empty()) invalid("(");
    std::string& last = a.back();
    if (last.empty() || last.back() != ')') invalid(last);
    if (last.size() == 1) {
        a.pop_back();
        quoted.pop_back();
    } else {
        last.pop_back();
    }
    if (a.empty()) invalid(")");
    const std::string& first = a.front();
    if (first.size() > 1 && first[0] == '$') {
        vars(c).compile(first, d.where);
        if (a.size() == 1) {
        } else if (a.size() == 3 && (a[1] == "=" || a[1] == "!=")) {
            vars(c).compile(a[2], d.where);
        } else if (a.size() == 3 && (a[1] == "~" || a[1] == "~*" || a[1] == "!~" || a[1] == "!~*")) {
            auto re = std::make_shared<ir::Regex>(a[2], a[1].back() == '*');
            if (!re->ok()) fail_at(d.where, re->error());
            for (const auto& n : re->names()) vars(c).define(n);
        } else if (a.size() == 3) {
            fail_at(d.where, "unexpected \"" + a[1] + "\" in condition");
        } else {
            fail_at(d.where, "invalid condition \"" + first + "\"");
        }
    } else if (first == "-f" || first == "!-f" || first == "-d" || first == "!-d" || first == "-e" ||
               first == "!-e" || first == "-x" || first == "!-x") {
        if (a.size() != 2) fail_at(d.where, "invalid condition \"" + first + "\"");
        vars(c).compile(a[1], d.where);
    } else {
        invalid(first);
    }
    d.condition = std::move(a);
    c.parse_block(d, c.context() == kHttpServer ? kHttpServerIf : kHttpLocationIf);
}

void return_directive(Compiler& c, Directive& d) {
    const std::string& code = d.args[1];
    auto n = parse_number(code);
    if (!n) {
        if (d.nargs() == 2 || !(code.starts_with("http://") || code.starts_with("https://") ||
                                code.starts_with("$scheme")))
            fail_at(d.where, "invalid return code \"" + code + "\"");
        vars(c).compile(code, d.where);
        return;
    }
    if (*n > 999) fail_at(d.where, "invalid return code \"" + code + "\"");
    if (d.nargs() == 2) vars(c).compile(d.args[2], d.where);
}

void rewrite(Compiler& c, Directive& d) {
    auto re = std::make_shared<ir::Regex>(d.args[1], false);
    if (!re->ok()) fail_at(d.where, re->error());
    for (const auto& n : re->names()) vars(c).define(n);
    if (d.nargs() == 3) {
        const std::string& flag = d.args[3];
        if (flag != "last" && flag != "break" && flag != "redirect" && flag != "permanent")
            fail_at(d.where, "invalid parameter \"" + flag + "\"");
    }
    vars(c).compile(d.args[2], d.where);
}

void no_op(Compiler&, Directive&) {}

// --- map, types, geo, split_clients -----------------------------------------------------

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

void geo_block(Compiler& c, Directive& d) {
    std::string_view target = variable_target(d, d.nargs());
    if (d.nargs() == 2) vars(c).compile(d.args[1], d.where);
    vars(c).define(target, c.modules(), d.where);
    c.parse_custom_block(d, true, [](Directive&) {});
}

void split_clients_block(Compiler& c, Directive& d) {
    std::string_view target = variable_target(d, 2);
    vars(c).compile(d.args[1], d.where);
    vars(c).define(target, c.modules(), d.where);
    c.parse_custom_block(d, false, [](Directive&) {});
}

void charset_map_block(Compiler& c, Directive& d) { c.parse_custom_block(d, false, [](Directive&) {}); }

// --- upstream ---------------------------------------------------------------------------

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

// --- proxy ------------------------------------------------------------------------------

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
    UrlOptions o;
    o.default_port = port;
    o.uri_part = true;
    o.no_resolve = true;
    ParsedUrl u = parse_url(std::string_view(url).substr(skip), o);
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

void password_file(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    if (has_variables(d.args[1])) {
        vars(c).compile(d.args[1], d.where);
        return;
    }
    // nginx reads it while parsing: a missing file is an error at this line.
    const std::string path = c.full_path(d.args[1], true);
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) fail_at(d.where, "open() \"" + path + "\" failed (" + std::to_string(errno) + ": " + std::strerror(errno) + ")");
    std::fclose(f);
}

// --- core odds and ends -----------------------------------------------------------------

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

void ssl_enable(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    if (!iequals(d.args[1], "on") && !iequals(d.args[1], "off"))
        fail_at(d.where, "invalid value \"" + d.args[1] + "\" in \"ssl\" directive, it must be \"on\" or \"off\"");
    d.value = iequals(d.args[1], "on");
    c.warn_at(d.where, "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead");
}

void ssl_session_cache(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        const std::string& a = d.args[i];
        if (a == "off" || a == "none" || a == "builtin") continue;
        if (a.starts_with("builtin:")) {
            if (!parse_number(std::string_view(a).substr(8))) fail_at(d.where, "invalid session cache \"" + a + "\"");
            continue;
        }
        if (a.starts_with("shared:")) {
            std::string_view rest = std::string_view(a).substr(7);
            auto colon = rest.find(':');
            if (colon == std::string_view::npos || colon == 0) fail_at(d.where, "invalid session cache \"" + a + "\"");
            auto size = parse_size(rest.substr(colon + 1));
            if (!size) fail_at(d.where, "invalid session cache \"" + a + "\"");
            if (*size < 8 * 4096) fail_at(d.where, "session cache \"" + a + "\" is too small");
            c.zones().declare(std::string(rest.substr(0, colon)), *size);
            continue;
        }
        fail_at(d.where, "invalid session cache \"" + a + "\"");
    }
}

// ngx_http_ssl_ocsp_cache: off, or shared:NAME:SIZE (at least 8 pages).
void ssl_ocsp_cache(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    const std::string& a = d.args[1];
    if (a == "off") return;
    const std::string invalid = "invalid OCSP cache \"" + a + "\"";
    if (a.size() <= 7 || !a.starts_with("shared:")) fail_at(d.where, invalid);
    const std::string_view rest = std::string_view(a).substr(7);
    const auto colon = rest.find(':');
    if (colon == 0 || colon == std::string_view::npos) fail_at(d.where, invalid);
    const auto size = parse_size(rest.substr(colon + 1));
    if (!size) fail_at(d.where, invalid);
    if (*size < 8 * 4096) fail_at(d.where, "OCSP cache \"" + a + "\" is too small");
    c.zones().declare(std::string(rest.substr(0, colon)), *size);
}

// "NAME:SIZE" of zone= and keys_zone=; `what` names it in nginx's error.
std::pair<std::string, std::int64_t> zone_spec(const Directive& d, std::string_view value, const std::string& arg,
                                               const char* what) {
    auto colon = value.find(':');
    if (colon == std::string_view::npos) fail_at(d.where, std::string("invalid ") + what + " size \"" + arg + "\"");
    auto size = parse_size(value.substr(colon + 1));
    if (!size) fail_at(d.where, std::string("invalid ") + what + " size \"" + arg + "\"");
    return {std::string(value.substr(0, colon)), *size};
}

void limit_zone_declaration(Compiler& c, Directive& d) {
    vars(c).compile(d.args[1], d.where);
    std::string name;
    std::int64_t size = 0;
    for (std::size_t i = 2; i < d.args.size(); ++i) {
        const std::string& a = d.args[i];
        if (a.starts_with("zone=")) {
            std::tie(name, size) = zone_spec(d, std::string_view(a).substr(5), a, "zone");
            if (size < 8 * 4096) fail_at(d.where, "zone \"" + name + "\" is too small");
        } else if (a.starts_with("rate=") && d.name() == "limit_req_zone") {
            std::string_view r = std::string_view(a).substr(5);
            if (!(r.ends_with("r/s") || r.ends_with("r/m")) || !parse_number(r.substr(0, r.size() - 3)))
                fail_at(d.where, "invalid rate \"" + a + "\"");
        } else if (a.starts_with("sync")) {
        } else {
            fail_at(d.where, "invalid parameter \"" + a + "\"");
        }
    }
    if (name.empty()) fail_at(d.where, "\"" + d.name() + "\" must have \"zone\" parameter");
    c.zones().declare(name, size);
}

void limit_req(Compiler& c, Directive& d) {
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        const std::string& a = d.args[i];
        if (a.starts_with("zone=")) {
            c.zones().reference(a.substr(5));
        } else if (a.starts_with("burst=") || a.starts_with("delay=")) {
            if (!parse_number(std::string_view(a).substr(6))) fail_at(d.where, "invalid " + a.substr(0, 5) + " value \"" + a + "\"");
        } else if (a != "nodelay") {
            fail_at(d.where, "invalid parameter \"" + a + "\"");
        }
    }
}

void limit_conn(Compiler& c, Directive& d) {
    c.zones().reference(d.args[1]);
    auto n = parse_number(d.args[2]);
    if (!n || *n == 0) fail_at(d.where, "invalid number of connections \"" + d.args[2] + "\"");
}

void file_cache_path(Compiler& c, Directive& d) {
    for (std::size_t i = 2; i < d.args.size(); ++i) {
        const std::string& a = d.args[i];
        if (a.starts_with("keys_zone=")) {
            auto [name, size] = zone_spec(d, std::string_view(a).substr(10), a, "keys zone");
            c.zones().declare(name, size);
        }
    }
}

void try_files(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    all_args_script(c, d);
}

void perl_set(Compiler& c, Directive& d) {
    std::string_view name = variable_target(d, 1);
    vars(c).define(name, c.modules(), d.where);
}

void geoip_database(Compiler& c, Directive& d) {
    // geoip_country/city/org define their variables; the database must open.
    for (auto v : {"geoip_country_code", "geoip_country_code3", "geoip_country_name", "geoip_city_country_code",
                   "geoip_city_country_code3", "geoip_city_country_name", "geoip_region", "geoip_region_name",
                   "geoip_city", "geoip_postal_code", "geoip_city_continent_code", "geoip_latitude",
                   "geoip_longitude", "geoip_dma_code", "geoip_area_code", "geoip_org"})
        vars(c).define(v);
    (void)d;
}

}  // namespace

// map and the log module, in http or stream (the context picks the module's state).

void map_block(Compiler& c, Directive& d) {
    vars(c).compile(d.args[1], d.where);
    std::string_view target = variable_target(d, 2);
    vars(c).define(target, c.modules(), d.where);
    ir::Map map;
    map.variable = std::string(target);
    map.source = compile_template(d.args[1], d.where);
    std::vector<std::string> keys;
    c.parse_custom_block(d, true, [&](Directive& line) {
        const std::string& key = line.args[0];
        if (line.nargs() == 0 && (key == "hostnames" || key == "volatile")) {
            map.hostnames = map.hostnames || key == "hostnames";
            map.is_volatile = map.is_volatile || key == "volatile";
            return;
        }
        if (line.nargs() != 1) fail_at(line.where, "invalid number of the map parameters");
        ir::Template value = vars(c).template_of(line.args[1], line.where);
        if (key == "default") {
            map.default_value = std::move(value);
            return;
        }
        if (!line.quoted[0] && key.size() > 1 && key[0] == '~') {
            const bool caseless = key[1] == '*';
            auto re = std::make_shared<ir::Regex>(std::string_view(key).substr(caseless ? 2 : 1), caseless);
            if (!re->ok()) fail_at(line.where, re->error());
            for (const auto& n : re->names()) vars(c).define(n);
            map.regexes.push_back({std::move(re), std::move(value)});
            return;
        }
        std::string k = key.size() > 1 && key[0] == '\\' ? key.substr(1) : key;
        // ".name" is "*.name" and the name itself; it conflicts as "*.name" does.
        const std::string conflict = map.hostnames && !k.empty() && k[0] == '.' ? "*" + k : k;
        if (std::find(keys.begin(), keys.end(), conflict) != keys.end())
            fail_at(line.where, "conflicting parameter \"" + key + "\"");
        keys.push_back(conflict);
        map.exact.emplace_back(std::move(k), std::move(value));
    });
    (in_stream(c) ? c.stream().maps : c.http().maps).push_back(std::move(map));
}

void log_format(Compiler& c, Directive& d) {
    if (has_log_format(c, d.args[1]))
        fail_at(d.where, "duplicate \"log_format\" name \"" + d.args[1] + "\"");
    ir::LogFormat f;
    f.name = d.args[1];
    std::size_t i = 2;
    if (i < d.args.size() && d.args[i].starts_with("escape=")) {
        std::string_view e = std::string_view(d.args[i]).substr(7);
        if (e == "json") f.escape = ir::LogFormat::Escape::json;
        else if (e == "none") f.escape = ir::LogFormat::Escape::none;
        else if (e != "default") fail_at(d.where, "unknown log format escaping \"" + std::string(e) + "\"");
        ++i;
    }
    for (; i < d.args.size(); ++i) {
        ir::Template part = vars(c).template_of(d.args[i], d.where);
        f.format.parts.insert(f.format.parts.end(), part.parts.begin(), part.parts.end());
    }
    log_formats(c).push_back(std::move(f));
}

void access_log(Compiler& c, Directive& d) {
    if (d.args[1] == "off") {
        if (d.nargs() == 1) return;
        fail_at(d.where, "invalid parameter \"" + d.args[2] + "\"");
    }
    const bool syslog = d.args[1].starts_with("syslog:");
    if (syslog) syslog_peer(d.args[1], d.where);  // its checks; compiled with the logs
    else if (has_variables(d.args[1])) vars(c).compile(d.args[1], d.where);
    if (d.nargs() < 2 && in_stream(c)) fail_at(d.where, "log format is not specified");  // http's default: combined
    if (d.nargs() >= 2 && !has_log_format(c, d.args[2]))
        fail_at(d.where, "unknown log format \"" + d.args[2] + "\"");
    bool buffered = false;
    for (std::size_t i = 3; i < d.args.size(); ++i) {
        const std::string& a = d.args[i];
        if (a.starts_with("buffer=")) {
            if (!parse_size(std::string_view(a).substr(7))) fail_at(d.where, "invalid buffer size \"" + a.substr(7) + "\"");
        } else if (a.starts_with("flush=")) {
            if (!parse_time(std::string_view(a).substr(6), false)) fail_at(d.where, "invalid flush time \"" + a.substr(6) + "\"");
        } else if (a.starts_with("gzip")) {
        } else if (a.starts_with("if=")) {
            vars(c).compile(std::string_view(a).substr(3), d.where);
        } else {
            fail_at(d.where, "invalid parameter \"" + a + "\"");
        }
        buffered = buffered || a.starts_with("buffer=") || a.starts_with("gzip");  // gzip buffers too
    }
    if (syslog && buffered) fail_at(d.where, "logs to syslog cannot be buffered");
}

// `set $name value` and complex values, in http or stream (vars() picks the scope).
void set_variable(Compiler& c, Directive& d) {
    std::string_view name = variable_target(d, 1);
    vars(c).define(name, c.modules(), d.where);
    vars(c).compile(d.args[2], d.where);
}

void complex_value(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    vars(c).compile(d.args[1], d.where);
}

// ngx_*_set_complex_value_size_slot: without variables the value must be a size.
void complex_value_size(Compiler& c, Directive& d) {
    complex_value(c, d);
    if (!has_variables(d.args[1]) && !parse_size(d.args[1])) fail_directive(d, "invalid value");
}

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
    UrlOptions o;
    o.default_port = default_port;
    o.no_resolve = !resolve;
    ParsedUrl u = parse_url(d.args[1], o);
    if (!u.err.empty()) fail_at(d.where, u.err + " in upstream \"" + d.args[1] + "\"");
    if (default_port == 0 && u.no_port && !u.unix_socket)
        fail_at(d.where, "no port in upstream \"" + d.args[1] + "\"");
    s.endpoints = u.addrs;
    return s;
}

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
    t["ngx_http_rewrite_if"] = if_block;
    t["ngx_http_rewrite_return"] = return_directive;
    t["ngx_http_rewrite"] = rewrite;
    t["ngx_http_rewrite_set"] = set_variable;
    t["ngx_http_rewrite_break"] = no_op;
    t["ngx_http_map_block"] = map_block;
    t["ngx_http_geo_block"] = geo_block;
    t["ngx_conf_split_clients_block"] = split_clients_block;
    t["ngx_http_charset_map_block"] = charset_map_block;
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
    t["ngx_http_proxy_ssl_password_file"] = password_file;
    t["ngx_http_ssl_password_file"] = password_file;
    t["ngx_http_set_complex_value_slot"] = complex_value;
    t["ngx_http_upstream_bind_set_slot"] = proxy_bind;
    t["ngx_http_set_complex_value_zero_slot"] = complex_value;
    t["ngx_http_set_complex_value_size_slot"] = complex_value_size;
    t["ngx_http_set_predicate_slot"] = predicate;
    t["ngx_http_headers_add"] = headers_add;
    t["ngx_http_log_set_format"] = log_format;
    t["ngx_http_log_set_log"] = access_log;
    t["ngx_http_access_rule"] = access_rule;
    t["ngx_http_auth_basic_user_file"] = complex_value;
    t["ngx_http_ssl_enable"] = ssl_enable;
    t["ngx_http_ssl_session_cache"] = ssl_session_cache;
    t["ngx_http_ssl_ocsp_cache"] = ssl_ocsp_cache;
    t["ngx_http_limit_req_zone"] = limit_zone_declaration;
    t["ngx_http_limit_conn_zone"] = limit_zone_declaration;
    t["ngx_http_limit_req"] = limit_req;
    t["ngx_http_limit_conn"] = limit_conn;
    t["ngx_http_file_cache_set_slot"] = file_cache_path;
    t["ngx_http_try_files"] = try_files;
    t["ngx_http_index_set_index"] = all_args_script;
    t["ngx_http_upstream_param_set_slot"] = second_arg_script;
    t["ngx_http_auth_request_set"] = set_variable;  // the same checks as `set`
    t["ngx_http_perl_set"] = perl_set;
    t["ngx_http_geoip_country"] = geoip_database;
    t["ngx_http_geoip_city"] = geoip_database;
    t["ngx_http_geoip_org"] = geoip_database;
    t["ngx_http_memcached_pass"] = [](Compiler& c, Directive& d) {
        reject_duplicate(c, d);
        vars(c).reference("memcached_key");  // the key is what `set $memcached_key` gives
    };
    t["ngx_http_proxy_cache_key"] = complex_value;
    t["ngx_http_fastcgi_cache_key"] = complex_value;
    t["ngx_http_uwsgi_cache_key"] = complex_value;
    t["ngx_http_scgi_cache_key"] = complex_value;
}

}  // namespace ngxlite::conf
