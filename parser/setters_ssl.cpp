// The http ssl module's setters with checks of their own: ssl, ssl_session_cache,
// ssl_ocsp_cache, and the password files (ssl_ and proxy_ssl_) read while parsing.
#include "parser/setters_http.hpp"

#include "parser/compiler.hpp"
#include "parser/values.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ngxlite::conf {

namespace {

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
}  // namespace

void register_http_ssl_setters(SetterTable& t) {
    t["ngx_http_proxy_ssl_password_file"] = password_file;
    t["ngx_http_ssl_password_file"] = password_file;
    t["ngx_http_ssl_enable"] = ssl_enable;
    t["ngx_http_ssl_session_cache"] = ssl_session_cache;
    t["ngx_http_ssl_ocsp_cache"] = ssl_ocsp_cache;
}

}  // namespace ngxlite::conf
