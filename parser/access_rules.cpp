// allow/deny (http and stream access modules) and set_real_ip_from: nginx's checks of
// the value and the rules the runtime matches a client's address against; a location's
// access phase settings merged (allow/deny, auth_basic, satisfy, auth_delay).
#include "parser/http_state.hpp"
#include "parser/merge.hpp"
#include "parser/setters.hpp"
#include "parser/variables.hpp"
#include "parser/ir/url.hpp"
#include "parser/values.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace ngxlite::conf {

void access_rule(Compiler&, Directive& d) {
    const std::string& v = d.args[1];
    if (v == "all" || v == "unix:") return;
    std::string addr = v.substr(0, v.find('/'));
    std::string mask = v.find('/') == std::string::npos ? "" : v.substr(v.find('/') + 1);
    unsigned char buf[16];
    const bool v6 = addr.find(':') != std::string::npos;
    if (::inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1) fail_at(d.where, "invalid parameter \"" + v + "\"");
    if (!mask.empty()) {
        auto bits = parse_number(mask);
        if (!bits || *bits > (v6 ? 128 : 32)) fail_at(d.where, "invalid parameter \"" + v + "\"");
    }
}

// allow ADDRESS[/BITS] | unix: | all (checked by the setter).
ir::AccessRule access_rule_of(const Directive& d) {
    ir::AccessRule r;
    r.allow = d.name() == "allow";
    const std::string& v = d.args[1];
    r.all = v == "all";
    r.unix_socket = v == "unix:";
    if (r.all || r.unix_socket) return r;
    const auto slash = v.find('/');
    const std::string addr = v.substr(0, slash);
    r.ipv6 = addr.find(':') != std::string::npos;
    ::inet_pton(r.ipv6 ? AF_INET6 : AF_INET, addr.c_str(), r.address.data());
    const int width = r.ipv6 ? 128 : 32;
    const int bits = slash == std::string::npos ? width : static_cast<int>(*parse_number(std::string_view(v).substr(slash + 1)));
    for (int i = 0; i < bits; ++i) r.mask[static_cast<std::size_t>(i / 8)] |= static_cast<unsigned char>(0x80 >> (i % 8));
    for (std::size_t i = 0; i < r.address.size(); ++i) r.address[i] &= r.mask[i];
    return r;
}

// set_real_ip_from ADDRESS[/BITS] | unix: | HOST (ngx_http_realip_from): a host name
// trusts each address it resolves to.
void add_real_ip_from(const Directive& d, std::vector<ir::AccessRule>& out) {
    const std::string& v = d.args[1];
    unsigned char buf[16];
    const std::string addr = v.substr(0, v.find('/'));
    const bool address = v == "unix:" || v.find('/') != std::string::npos ||
                         ::inet_pton(addr.find(':') != std::string::npos ? AF_INET6 : AF_INET, addr.c_str(), buf) == 1;
    if (address) {
        out.push_back(access_rule_of(d));
        out.back().allow = true;
        return;
    }
    const auto resolved = ir::resolve_host(v, 0);
    if (resolved.empty()) fail("host not found in set_real_ip_from \"" + v + "\"" + at(d.where));
    for (const auto& e : resolved) {
        ir::AccessRule r;
        r.allow = true;
        r.ipv6 = e.ipv6;
        ::inet_pton(e.ipv6 ? AF_INET6 : AF_INET, e.ip.c_str(), r.address.data());
        std::fill(r.mask.begin(), r.mask.begin() + (e.ipv6 ? 16 : 4), 0xff);
        out.push_back(r);
    }
}

void merge_access_phase(Compiler& c, const Scope& s, ir::Location& loc) {
    if (const Block* b = s.innermost_with({"allow", "deny"}))
        for (const auto& d : b->directives)
            if (d->name() == "allow" || d->name() == "deny") loc.access_rules.push_back(access_rule_of(*d));
    const Directive* realm = s.find("auth_basic");
    const Directive* file = s.find("auth_basic_user_file");
    if (realm && file && realm->args[1] != "off") {
        // ngx_http_compile_complex_value with conf_prefix: a value starting with a variable
        // is made full once evaluated, any other now.
        const std::string& path = file->args[1];
        const bool later = path.starts_with("$");
        VariableScope& vars = c.http().variables;
        loc.auth_basic = ir::AuthBasic{vars.unchecked_template(realm->args[1], realm->where),
                                       vars.unchecked_template(later ? path : c.full_path(path, true), file->where),
                                       later ? c.conf_prefix() : std::string()};
    }
    loc.satisfy = static_cast<ir::Location::Satisfy>(s.value<int>("satisfy", 0));
    loc.auth_delay = ir::Msec(s.value<std::int64_t>("auth_delay", 0));
}

}  // namespace ngxlite::conf
