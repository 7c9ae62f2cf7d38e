// The proxy module's cookie directives: proxy_cookie_flags (ngx_http_proxy_cookie_flags):
// `off`, or a cookie name (variables allowed, or ~regex, caseless) and up to three flags;
// proxy_cookie_domain and proxy_cookie_path (ngx_http_proxy_cookie_domain, _path).
#include "parser/http_state.hpp"
#include "parser/setters.hpp"
#include "parser/values.hpp"
#include "parser/variables.hpp"

namespace ngxlite::conf {

void proxy_cookie_flags(Compiler& c, Directive& d) {
    const auto& all = c.block().find_all("proxy_cookie_flags");
    const bool off_before = !all.empty() && all.front() != &d && all.front()->nargs() == 1 && all.front()->args[1] == "off";
    if (off_before) fail_directive(d, "is duplicate");
    if (d.nargs() == 1) {
        if (d.args[1] != "off") fail_at(d.where, "invalid parameter \"" + d.args[1] + "\"");
        if (all.front() != &d) fail_directive(d, "is duplicate");
        return;
    }
    if (d.args[1].starts_with("~")) {
        const ir::Regex regex(std::string_view(d.args[1]).substr(1), true);
        if (!regex.ok()) fail_at(d.where, regex.error());
    } else {
        c.http().variables.compile(d.args[1], d.where);
    }
    // nginx 1.22.1 takes any flag here; one it does not know is ignored when applied.
    for (std::size_t i = 2; i < d.args.size(); ++i) c.http().variables.compile(d.args[i], d.where);
}

ir::ProxyCookieFlags cookie_flags_rule(const Directive& d, VariableScope& vars) {
    ir::ProxyCookieFlags rule;
    if (d.args[1].starts_with("~")) {
        auto regex = std::make_shared<ir::Regex>(std::string_view(d.args[1]).substr(1), true);
        vars.bind_captures(*regex);
        rule.regex = std::move(regex);
    } else {
        rule.cookie = vars.unchecked_template(d.args[1], d.where);
    }
    for (std::size_t i = 2; i < d.args.size(); ++i) rule.flags.push_back(vars.unchecked_template(d.args[i], d.where));
    return rule;
}

namespace {

// The regex of a rule: domain's "~" is always caseless, path's "~*" is.
std::shared_ptr<ir::Regex> rule_regex(const Directive& d) {
    std::string_view pattern = std::string_view(d.args[1]).substr(1);
    bool caseless = d.name() == "proxy_cookie_domain";
    if (!caseless && pattern.starts_with("*")) {
        pattern.remove_prefix(1);
        caseless = true;
    }
    return std::make_shared<ir::Regex>(pattern, caseless);
}

// A domain's string pattern is taken without its leading dot, as nginx compares it.
std::string_view string_pattern(const Directive& d) {
    std::string_view pattern = d.args[1];
    if (d.name() == "proxy_cookie_domain" && pattern.starts_with(".")) pattern.remove_prefix(1);
    return pattern;
}

}  // namespace

void proxy_cookie_rewrite(Compiler& c, Directive& d) {
    const auto& all = c.block().find_all(DirectiveName::from_config(d.name()));
    const bool off_first = all.front()->nargs() == 1 && all.front()->args[1] == "off";
    if (d.nargs() == 1) {
        if (d.args[1] != "off") fail_at(d.where, "invalid parameter \"" + d.args[1] + "\"");
        if (all.front() != &d) fail_directive(d, "is duplicate");
        return;
    }
    if (off_first) fail_directive(d, "is duplicate");
    if (d.args[1].starts_with("~")) {
        const auto regex = rule_regex(d);
        if (!regex->ok()) fail_at(d.where, regex->error());
    } else {
        c.http().variables.compile(std::string(string_pattern(d)), d.where);
    }
    c.http().variables.compile(d.args[2], d.where);
}

std::vector<ir::ProxyCookieRewrite> cookie_rewrite_rules(const std::vector<const Directive*>& list, VariableScope& vars) {
    std::vector<ir::ProxyCookieRewrite> rules;
    for (const Directive* d : list) {
        if (d->nargs() == 1) break;  // off
        ir::ProxyCookieRewrite rule;
        if (d->args[1].starts_with("~")) {
            auto regex = rule_regex(*d);
            vars.bind_captures(*regex);
            rule.regex = std::move(regex);
        } else {
            rule.pattern = vars.unchecked_template(std::string(string_pattern(*d)), d->where);
        }
        rule.replacement = vars.unchecked_template(d->args[2], d->where);
        rules.push_back(std::move(rule));
    }
    return rules;
}

}  // namespace ngxlite::conf
