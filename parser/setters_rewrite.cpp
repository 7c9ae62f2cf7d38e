// The setters of the modules that define variables: rewrite (if, return, rewrite, set),
// map, split_clients, perl_set, geoip; and nginx's complex-value slots. map, set and
// complex values serve stream too (vars() picks the context's scope).
#include "parser/setters_http.hpp"

#include "parser/compiler.hpp"
#include "parser/http_state.hpp"
#include "parser/stream_state.hpp"
#include "parser/values.hpp"

#include <algorithm>

namespace ngxlite::conf {

namespace {

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
            vars(c).define_captures(*re);
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
    vars(c).define_captures(*re);
    if (d.nargs() == 3) {
        const std::string& flag = d.args[3];
        if (flag != "last" && flag != "break" && flag != "redirect" && flag != "permanent")
            fail_at(d.where, "invalid parameter \"" + flag + "\"");
    }
    vars(c).compile(d.args[2], d.where);
}

void no_op(Compiler&, Directive&) {}

// split_clients as ngx_conf_split_clients_block: "N%" parts (two decimals at most) or `*`,
// their bounds the running sum scaled to 32 bits; a total above 100% fails at the '}'.
void split_clients_block(Compiler& c, Directive& d) {
    std::string_view target = variable_target(d, 2);
    ir::Map map;
    map.source = vars(c).template_of(d.args[1], d.where);
    vars(c).define(target, c.modules(), d.where);
    map.variable = std::string(target);
    std::vector<std::uint32_t> percents;
    c.parse_custom_block(d, false, [&](Directive& line) {
        const std::string& key = line.args[0];
        std::optional<std::int64_t> percent = 0;
        if (key != "*") {
            percent = key.ends_with('%') ? parse_fixed_point(std::string_view(key).substr(0, key.size() - 1), 2) : std::nullopt;
            if (!percent || *percent == 0) fail_at(line.where, "invalid percent value \"" + key + "\"");
        }
        percents.push_back(static_cast<std::uint32_t>(*percent));
        map.split.push_back({0, line.nargs() >= 1 ? line.args[1] : std::string()});
    });
    std::uint32_t sum = 0, below = 0;
    for (std::size_t i = 0; i < percents.size(); ++i) {
        sum = percents[i] ? sum + percents[i] : 10000;
        if (sum > 10000) fail_at(d.body_end, "percent total is greater than 100%");
        if (percents[i]) below += static_cast<std::uint32_t>(percents[i] * std::uint64_t{0xffffffff} / 10000);
        map.split[i].below = percents[i] ? below : 0;
    }
    (in_stream(c) ? c.stream().maps : c.http().maps).push_back(std::move(map));
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

// map {}, in http or stream (the context picks the module's state).
void map_block(Compiler& c, Directive& d) {
    ir::Map map;
    map.source = vars(c).template_of(d.args[1], d.where);
    std::string_view target = variable_target(d, 2);
    vars(c).define(target, c.modules(), d.where);
    map.variable = std::string(target);
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
        if (key.size() > 1 && key[0] == '~') {  // quoted or not, as ngx_http_map
            const bool caseless = key[1] == '*';
            auto re = std::make_shared<ir::Regex>(std::string_view(key).substr(caseless ? 2 : 1), caseless);
            if (!re->ok()) fail_at(line.where, re->error());
            vars(c).define_captures(*re);
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

void register_http_rewrite_setters(SetterTable& t) {
    t["ngx_http_rewrite_if"] = if_block;
    t["ngx_http_rewrite_return"] = return_directive;
    t["ngx_http_rewrite"] = rewrite;
    t["ngx_http_rewrite_set"] = set_variable;
    t["ngx_http_rewrite_break"] = no_op;
    t["ngx_http_map_block"] = map_block;
    t["ngx_http_geo_block"] = geo_block;
    t["ngx_conf_split_clients_block"] = split_clients_block;
    t["ngx_http_auth_request_set"] = set_variable;  // the same checks as `set`
    t["ngx_http_perl_set"] = perl_set;
    t["ngx_http_geoip_country"] = geoip_database;
    t["ngx_http_geoip_city"] = geoip_database;
    t["ngx_http_geoip_org"] = geoip_database;
}

}  // namespace ngxlite::conf
