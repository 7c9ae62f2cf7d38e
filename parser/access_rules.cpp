// allow/deny (http and stream access modules) and set_real_ip_from: nginx's checks of
// the value and the rules the runtime matches a client's address against.
#include "parser/setters.hpp"
#include "parser/url.hpp"
#include "parser/values.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace ngxlite::conf {

namespace {
std::string at(const SourceRef& w) { return std::string(" in ") + (w.file ? *w.file : "command line") + ":" + std::to_string(w.line); }
}  // namespace

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
    const auto resolved = resolve_host(v, 0);
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

}  // namespace ngxlite::conf
