// proxy_cookie_flags (ngx_http_proxy_cookie_flags): `off`, or a cookie name (variables
// allowed, or ~regex, caseless) and up to three flags.
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

ir::ProxyCookieFlags cookie_flags_rule(const Directive& d) {
    ir::ProxyCookieFlags rule;
    if (d.args[1].starts_with("~"))
        rule.regex = std::make_shared<ir::Regex>(std::string_view(d.args[1]).substr(1), true);
    else
        rule.cookie = compile_template(d.args[1], d.where);
    for (std::size_t i = 2; i < d.args.size(); ++i) rule.flags.push_back(compile_template(d.args[i], d.where));
    return rule;
}

}  // namespace ngxlite::conf
