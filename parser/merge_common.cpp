// The merges http and stream share besides TLS: access_log (formats resolved), error_log
// (an index into the config's lists), complex-value sizes and proxy_bind.
#include "parser/compiler.hpp"
#include "parser/ir/address.hpp"
#include "parser/merge.hpp"
#include "parser/setters.hpp"
#include "parser/syslog.hpp"
#include "parser/values.hpp"
#include "parser/variables.hpp"

#include <algorithm>

namespace ngxlite::conf {

// access_log as merged down `s` (http and stream): the innermost block's list, nothing
// after "off"; the caller adds its module's default.
std::vector<ir::AccessLog> merge_access_logs(Compiler& c, const Scope& s, const std::vector<ir::LogFormat>& formats,
                                            VariableScope& vars) {
    std::vector<ir::AccessLog> logs;
    const Directive* cache = s.find("open_log_file_cache");
    for (const Directive* a : s.find_list("access_log")) {
        if (a->args[1] == "off") break;
        ir::AccessLog log;
        const bool syslog = a->args[1].starts_with("syslog:");
        // A file's path, variables or not, from the prefix (ngx_conf_full_name).
        log.path = vars.unchecked_template(a->args[1] == "stderr" || syslog ? a->args[1] : c.full_path(a->args[1], false),
                                           a->where);
        if (syslog) log.syslog = syslog_peer(a->args[1], a->where);
        if (cache && log.path.has_variables()) log.cache = c.open_log_caches().at(cache);
        if (a->nargs() >= 2) log.format = a->args[2];
        log.format_index = static_cast<std::size_t>(
            std::find_if(formats.begin(), formats.end(), [&](const auto& f) { return f.name == log.format; }) -
            formats.begin());
        LogBufferSettings buffer;
        read_log_buffer(*a, buffer);  // checked by its setter
        log.buffer = buffer.size;
        log.flush = ir::Msec(buffer.flush_ms);
        log.gzip = buffer.gzip;
        for (std::size_t i = 3; i < a->args.size(); ++i)
            if (a->args[i].starts_with("if=")) log.condition = vars.unchecked_template(std::string_view(a->args[i]).substr(3), a->where);
        logs.push_back(std::move(log));
    }
    return logs;
}

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

ir::ComplexSize merge_complex_size(const Scope& s, DirectiveName name, VariableScope& vars) {
    ir::ComplexSize v;
    if (const Directive* d = s.find(name)) {
        if (has_variables(d->args[1])) v.value = vars.unchecked_template(d->args[1], d->where);
        else v.size = *parse_size(d->args[1]);  // checked by its setter
    }
    return v;
}

std::optional<ir::ProxyBind> merge_proxy_bind(const Scope& s, VariableScope& vars) {
    const Directive* b = s.find("proxy_bind");
    if (!b || (b->args.size() == 2 && b->args[1] == "off")) return std::nullopt;
    ir::ProxyBind bind;
    bind.name = b->args[1];
    if (has_variables(bind.name)) bind.value = vars.unchecked_template(bind.name, b->where);
    else bind.address = ir::parse_addr_port(bind.name);
    bind.transparent = b->args.size() > 2;
    bind.where = location_of(b->where);
    return bind;
}

}  // namespace ngxlite::conf
