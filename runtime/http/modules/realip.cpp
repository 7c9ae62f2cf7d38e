// nginx's realip module: the client address a trusted proxy names.
#include "runtime/http/handlers.hpp"

#include "parser/ir/address.hpp"
#include "runtime/core/net.hpp"
#include "runtime/core/text.hpp"

namespace ngxlite::runtime {

namespace {

// `real_ip_header proxy_protocol`: the client the PROXY protocol header named, port too.
void take_proxy_protocol_addr(RequestContext& ctx) {
    const ProxyProtocol* pp = ctx.connection.proxy_protocol.get();
    if (!pp) return;
    boost::system::error_code ec;
    const auto a = asio::ip::make_address(pp->src_addr, ec);
    if (ec) return;
    ctx.real_addr = a.to_string();
    ctx.real_port = pp->src_port;
}

}  // namespace

// The realip module (ngx_http_get_forwarded_addr): from a trusted peer, the header names the
// client; X-Forwarded-For's last address, or with real_ip_recursive the last one that is
// not trusted. Applied once per request, with the first level that configures it.
void apply_real_ip(const ir::Location& loc, RequestContext& ctx) {
    if (loc.real_ip_from.empty() || !ctx.real_addr.empty() || !first_match(loc.real_ip_from, ctx.connection.remote_addr)) return;
    if (loc.real_ip_header == "proxy_protocol") {
        take_proxy_protocol_addr(ctx);
        return;
    }
    const std::string_view* value = ctx.request.header(loc.real_ip_header);
    if (!value) return;
    boost::system::error_code ec;
    // ngx_parse_addr_port: a port may follow ("addr:port", "[v6]:port"): $remote_port.
    const auto take = [&](std::string_view text) {
        const auto e = ir::parse_addr_port(text);
        if (!e) return false;
        const auto a = asio::ip::make_address(e->ip, ec);
        if (ec) return false;
        ctx.real_addr = a.to_string();
        ctx.real_port = e->port;
        return true;
    };
    if (!iequal(loc.real_ip_header, "X-Forwarded-For")) {
        take(*value);
        return;
    }
    if (const std::string found = forwarded_address(ctx.request, loc.real_ip_from, loc.real_ip_recursive); !found.empty())
        take(found);
}

std::string forwarded_address(const Request& request, const std::vector<ir::AccessRule>& trusted, bool recursive) {
    // Every X-Forwarded-For line, as one list (the last line's last address first).
    std::string joined;
    for (const auto& [k, v] : request.headers)
        if (iequal(k, "X-Forwarded-For")) joined.append(joined.empty() ? "" : ", ").append(v);
    std::string_view list = joined;
    std::string_view found;
    for (;;) {
        while (!list.empty() && (list.back() == ' ' || list.back() == ',')) list.remove_suffix(1);
        const auto cut = list.find_last_of(", ");
        const std::string_view last = cut == std::string_view::npos ? list : list.substr(cut + 1);
        const auto e = ir::parse_addr_port(last);
        if (!e) break;
        found = last;
        if (!recursive || cut == std::string_view::npos || !first_match(trusted, e->ip)) break;
        list = list.substr(0, cut);
    }
    return std::string(found);
}

}  // namespace ngxlite::runtime
