// The setters that declare or use shared memory zones: limit_req_zone, limit_conn_zone,
// limit_req, limit_conn, and the *_cache_path keys_zone=.
#include "parser/setters_http.hpp"

#include "parser/compiler.hpp"
#include "parser/values.hpp"

#include <tuple>

namespace ngxlite::conf {

namespace {

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

}  // namespace

void register_http_limit_setters(SetterTable& t) {
    t["ngx_http_limit_req_zone"] = limit_zone_declaration;
    t["ngx_http_limit_conn_zone"] = limit_zone_declaration;
    t["ngx_http_limit_req"] = limit_req;
    t["ngx_http_limit_conn"] = limit_conn;
    t["ngx_http_file_cache_set_slot"] = file_cache_path;
}

}  // namespace ngxlite::conf
