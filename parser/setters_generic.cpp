// nginx's shared setters (ngx_conf_set_*_slot): one parser and one message per value
// kind. The parsed value lands in Directive::value for the IR builders.
#include "parser/compiler.hpp"
#include "parser/setters.hpp"
#include "parser/values.hpp"

namespace ngxlite::conf {

std::string at(const SourceRef& w) { return " in " + (w.file ? *w.file : std::string("command line")) + ":" + std::to_string(w.line); }

void reject_duplicate(Compiler& c, const Directive& d) {
    if (c.block().find_all(DirectiveName::from_config(d.name())).size() > 1) fail_at(d.where, "\"" + d.name() + "\" directive is duplicate");
}

[[noreturn]] void fail_directive(const Directive& d, const std::string& what) {
    fail_at(d.where, "\"" + d.name() + "\" directive " + what);
}

namespace {

void set_flag(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    if (iequals(d.args[1], "on"))
        d.value = 1;
    else if (iequals(d.args[1], "off"))
        d.value = 0;
    else
        fail_at(d.where, "invalid value \"" + d.args[1] + "\" in \"" + d.name() +
                             "\" directive, it must be \"on\" or \"off\"");
}

void set_str(Compiler& c, Directive& d) { reject_duplicate(c, d); }

void set_num(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    auto v = parse_number(d.args[1]);
    if (!v) fail_directive(d, "invalid number");
    d.value = *v;
}

template <std::optional<std::int64_t> (*Parse)(std::string_view)>
void set_parsed(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    auto v = Parse(d.args[1]);
    if (!v) fail_directive(d, "invalid value");
    d.value = *v;
}

template <bool Seconds>
void set_time(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    auto v = parse_time(d.args[1], Seconds);
    if (!v) fail_directive(d, "invalid value");
    d.value = *v;
}

void set_bufs(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    auto n = parse_number(d.args[1]);
    if (!n || *n == 0) fail_directive(d, "invalid value");
    auto size = parse_size(d.args[2]);
    if (!size || *size == 0) fail_directive(d, "invalid value");
    d.count = *n;
    d.value = *size;
}

void set_enum(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    auto index = value_index(*d.spec, d.args[1]);
    if (index < 0) fail_at(d.where, "invalid value \"" + d.args[1] + "\"");
    d.value = index;
}

void set_bitmask(Compiler& c, Directive& d) {
    // A repeated directive ORs into the same field, as in nginx.
    std::int64_t mask = 0;
    for (const Directive* prev : c.block().find_all(DirectiveName::from_config(d.name())))
        if (prev != &d) mask |= prev->value;
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        auto index = value_index(*d.spec, d.args[i]);
        if (index < 0) fail_at(d.where, "invalid value \"" + d.args[i] + "\"");
        const std::int64_t bit = std::int64_t{1} << (index + 1);
        if (mask & bit)
            c.warn_at(d.where, "duplicate value \"" + d.args[i] + "\"");
        mask |= bit;
    }
    d.value = mask;
}

void set_path(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    for (std::size_t i = 2; i < d.args.size(); ++i) {
        auto level = parse_number(d.args[i]);
        if (!level || *level == 0) fail_directive(d, "invalid value");
    }
}

void set_access(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        std::string_view a = d.args[i];
        std::string_view who = a.substr(0, a.find(':'));
        std::string_view perm = a.find(':') == std::string_view::npos ? "" : a.substr(a.find(':') + 1);
        if ((who != "user" && who != "group" && who != "all") || (perm != "r" && perm != "rw"))
            fail_at(d.where, "invalid value \"" + d.args[i] + "\"");
    }
}

}  // namespace

std::string_view variable_target(const Directive& d, std::size_t index) {
    std::string_view name = d.args[index];
    if (name.empty() || name[0] != '$') fail_at(d.where, "invalid variable name \"" + d.args[index] + "\"");
    return name.substr(1);
}

int value_index(const DirectiveSpec& spec, std::string_view word) {
    std::string_view values = spec.values;
    int index = 0;
    while (!values.empty()) {
        auto comma = values.find(',');
        std::string_view v = values.substr(0, comma);
        if (iequals(v, word)) return index;
        ++index;
        if (comma == std::string_view::npos) break;
        values.remove_prefix(comma + 1);
    }
    return -1;
}

void register_generic_setters(SetterTable& t) {
    t["ngx_conf_set_flag_slot"] = set_flag;
    t["ngx_conf_set_str_slot"] = set_str;
    t["ngx_conf_set_num_slot"] = set_num;
    t["ngx_conf_set_size_slot"] = set_parsed<parse_size>;
    t["ngx_conf_set_off_slot"] = set_parsed<parse_offset>;
    t["ngx_conf_set_msec_slot"] = set_time<false>;
    t["ngx_conf_set_sec_slot"] = set_time<true>;
    t["ngx_conf_set_bufs_slot"] = set_bufs;
    t["ngx_conf_set_enum_slot"] = set_enum;
    t["ngx_conf_set_bitmask_slot"] = set_bitmask;
    t["ngx_conf_set_path_slot"] = set_path;
    t["ngx_conf_set_access_slot"] = set_access;
}

}  // namespace ngxlite::conf
