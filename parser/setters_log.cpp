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

std::optional<std::string> read_log_buffer(const Directive& d, LogBufferSettings& out) {
    for (std::size_t i = 3; i < d.args.size(); ++i) {
        const std::string_view a = d.args[i];
        if (a.starts_with("buffer=")) {
            const auto size = parse_size(a.substr(7));
            if (!size || *size == 0) return "invalid buffer size \"" + std::string(a.substr(7)) + "\"";
            out.size = *size;
        } else if (a.starts_with("flush=")) {
            const auto ms = parse_time(a.substr(6), false);
            if (!ms || *ms == 0) return "invalid flush time \"" + std::string(a.substr(6)) + "\"";
            out.flush_ms = *ms;
        } else if (a.starts_with("gzip") && (a.size() == 4 || a[4] == '=')) {
            if (out.size == 0) out.size = 64 * 1024;
            if (a.size() == 4) {
                out.gzip = 1;  // Z_BEST_SPEED
                continue;
            }
            const auto level = parse_number(a.substr(5));
            if (!level || *level < 1 || *level > 9) return "invalid compression level \"" + std::string(a.substr(5)) + "\"";
            out.gzip = static_cast<int>(*level);
        } else if (!a.starts_with("if=")) {
            return "invalid parameter \"" + std::string(a) + "\"";
        }
    }
    return std::nullopt;
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
    LogBufferSettings buffer;
    if (const auto error = read_log_buffer(d, buffer)) fail_at(d.where, *error);
    for (std::size_t i = 3; i < d.args.size(); ++i)
        if (d.args[i].starts_with("if=")) vars(c).compile(std::string_view(d.args[i]).substr(3), d.where);
    if (buffer.flush_ms && !buffer.size) fail_at(d.where, "no buffer is defined for access_log \"" + d.args[1] + "\"");
    if (buffer.size && has_variables(d.args[1])) fail_at(d.where, "buffered logs cannot have variables in name");
    if (buffer.size && syslog) fail_at(d.where, "logs to syslog cannot be buffered");
    if (syslog || has_variables(d.args[1])) return;
    // ngx_conf_open_file's name: stderr as itself, anything else from the prefix.
    const std::string file = d.args[1] == "stderr" ? d.args[1] : c.full_path(d.args[1], false);
    c.config().access_log_files.push_back(file);
    if (!buffer.size) return;
    const auto [known, fresh] = c.log_buffers().emplace(file, buffer);
    if (!fresh && known->second != buffer)
        fail_at(d.where, "access_log \"" + d.args[1] + "\" already defined with conflicting parameters");
}

// open_log_file_cache as ngx_http_log_open_file_cache (and stream's) reads it: max=,
// inactive=, min_uses=, valid= in any order, or `off` anywhere; nullptr for off.
std::shared_ptr<const ir::OpenLogCache> read_open_log_cache(const Directive& d) {
    ir::OpenLogCache cache;
    std::int64_t max = 0;
    bool off = false;
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        const std::string_view a = d.args[i];
        std::optional<std::int64_t> value;
        if (a.starts_with("max=") && (value = parse_number(a.substr(4)))) max = *value;
        else if (a.starts_with("inactive=") && (value = parse_time(a.substr(9), true))) cache.inactive = ir::Msec(*value * 1000);
        else if (a.starts_with("min_uses=") && (value = parse_number(a.substr(9)))) cache.min_uses = static_cast<std::uint64_t>(*value);
        else if (a.starts_with("valid=") && (value = parse_time(a.substr(6), true))) cache.valid = ir::Msec(*value * 1000);
        else if (a == "off") off = true;
        else fail_at(d.where, "invalid \"open_log_file_cache\" parameter \"" + d.args[i] + "\"");
    }
    if (off) return nullptr;
    if (max == 0) fail_at(d.where, "\"open_log_file_cache\" must have \"max\" parameter");
    cache.max = static_cast<std::size_t>(max);
    return std::make_shared<const ir::OpenLogCache>(cache);
}

void open_log_file_cache(Compiler& c, Directive& d) {
    if (c.block().find_all("open_log_file_cache").front() != &d) fail_directive(d, "is duplicate");
    c.open_log_caches()[&d] = read_open_log_cache(d);
}

void register_http_log_setters(SetterTable& t) {
    t["ngx_http_log_set_format"] = log_format;
    t["ngx_http_log_set_log"] = access_log;
    t["ngx_http_log_open_file_cache"] = open_log_file_cache;
}

}  // namespace ngxlite::conf
