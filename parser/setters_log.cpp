// The log module's setters, http's and stream's: log_format and access_log (the context
// picks the module's formats).
#include "parser/setters_http.hpp"

#include "parser/compiler.hpp"
#include "parser/http_state.hpp"
#include "parser/stream_state.hpp"
#include "parser/syslog.hpp"
#include "parser/values.hpp"

#include <algorithm>

namespace ngxlite::conf {

namespace {

std::vector<ir::LogFormat>& log_formats(Compiler& c) { return in_stream(c) ? c.stream().log_formats : c.http().log_formats; }

bool has_log_format(Compiler& c, std::string_view name) {
    const auto& formats = log_formats(c);
    return std::any_of(formats.begin(), formats.end(), [&](const auto& f) { return f.name == name; });
}

}  // namespace

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

void register_http_log_setters(SetterTable& t) {
    t["ngx_http_log_set_format"] = log_format;
    t["ngx_http_log_set_log"] = access_log;
}

}  // namespace ngxlite::conf
