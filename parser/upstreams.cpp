#include "parser/upstreams.hpp"

#include "parser/compiler.hpp"
#include "parser/setters.hpp"
#include "parser/values.hpp"
#include "parser/variables.hpp"

#include <algorithm>

namespace ngxlite::conf {

int find_upstream(const UpstreamList& ups, const ir::ParsedUrl& u) {
    for (std::size_t i = 0; i < ups.size(); ++i)
        if (iequals(ups[i]->host, u.host) && (ups[i]->explicit_block || ups[i]->port == u.port)) return static_cast<int>(i);
    return -1;
}

UpstreamInfo& add_upstream(UpstreamList& ups, const Directive& d, const ir::ParsedUrl& u, const std::string& url,
                           bool create) {
    for (auto& up : ups) {
        if (!iequals(up->host, u.host)) continue;
        if (create && up->explicit_block) fail_at(d.where, "duplicate upstream \"" + u.host + "\"");
        if (up->explicit_block && !u.no_port)
            fail_at(d.where, "upstream \"" + u.host + "\" may not have port " + std::to_string(u.port));
        if (create && !up->no_port)
            fail("upstream \"" + u.host + "\" may not have port " + std::to_string(up->port) + " in " +
                 *up->where.file + ":" + std::to_string(up->where.line));
        if (!create && !up->explicit_block && up->port != u.port) continue;
        if (create) {
            up->explicit_block = true;
            up->where = d.where;
        }
        return *up;
    }
    auto up = std::make_unique<UpstreamInfo>();
    up->host = u.host;
    up->url = url;
    up->port = u.port;
    up->no_port = u.no_port;
    up->explicit_block = create;
    up->where = d.where;
    up->addrs = u.addrs;
    ups.push_back(std::move(up));
    return *ups.back();
}

void upstream_block(Compiler& c, Directive& d, UpstreamList& ups, Context context) {
    ir::ParsedUrl u;
    u.host = d.args[1];
    u.no_port = true;
    UpstreamInfo& up = add_upstream(ups, d, u, d.args[1], true);
    up.block = &d;
    c.parse_block(d, context);
    if (up.servers.empty()) fail_at(d.body_end, "no servers are inside upstream");
}

UpstreamInfo& current_upstream(Compiler& c, UpstreamList& ups) {
    for (auto& up : ups)
        if (up->block == c.block().opener) return *up;
    fail("internal error: upstream block not registered");
}

void upstream_server(Compiler& c, Directive& d, UpstreamList& ups, std::uint16_t default_port) {
    UpstreamInfo& up = current_upstream(c, ups);
    up.servers.push_back(parse_upstream_server(d, true, default_port, supports_backup(up.balancer)));
}

ir::UpstreamGroup init_upstream(const UpstreamInfo& up, bool port_required, VariableScope& vars) {
    ir::UpstreamGroup g;
    g.name = up.host;
    g.implicit = !up.explicit_block;
    g.port = up.explicit_block ? 0 : up.port;
    g.where = location_of(up.where);
    if (up.explicit_block) {
        if (std::none_of(up.servers.begin(), up.servers.end(), [](const auto& s) { return !s.backup; }))
            fail("no servers are inside upstream" + at(up.where));
        g.servers = up.servers;
        g.balancer = up.balancer;
        const Block& b = *up.block->block;
        if (const Directive* k = b.find("keepalive")) g.keepalive = static_cast<int>(k->value);
        if (const Directive* h = b.find("hash")) g.hash_key = vars.unchecked_template(h->args[1], h->where);
        if (const Directive* t = b.find("keepalive_timeout")) g.keepalive_timeout = ir::Msec(t->value);
        if (const Directive* r = b.find("keepalive_requests")) g.keepalive_requests = static_cast<int>(r->value);
        if (const Directive* t = b.find("keepalive_time")) g.keepalive_time = ir::Msec(t->value);
        return g;
    }
    // A unix socket has no port (nginx's u->naddrs == 1: the group has its server).
    const bool unix_socket = up.addrs.size() == 1 && up.addrs[0].unix_socket;
    if (port_required && up.no_port && !unix_socket) fail("no port in upstream \"" + up.host + "\"" + at(up.where));
    ir::UpstreamServer s;
    s.name = up.url;
    s.endpoints = up.addrs.empty() ? ir::resolve_host(up.host, up.port) : up.addrs;
    if (s.endpoints.empty()) fail("host not found in upstream \"" + up.host + "\"" + at(up.where));
    g.servers.push_back(std::move(s));
    return g;
}

}  // namespace ngxlite::conf
