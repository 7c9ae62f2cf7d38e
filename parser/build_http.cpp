// nginx's ngx_http_block after the closing brace, in its order (it decides which error
// wins): initialise upstreams, merge servers and their locations (build_location.cpp),
// check locations, listen ... ssl, variables and server names; the http IR.
#include "parser/build_http.hpp"

#include "parser/http_state.hpp"
#include "parser/setters.hpp"
#include "parser/upstreams.hpp"

#include <algorithm>

#include <unistd.h>

namespace ngxlite::conf {

namespace {

void init_upstreams(Compiler& c, ir::HttpConfig& http) {
    for (const auto& up : c.http().upstreams) http.upstreams.push_back(init_upstream(*up, false, c.http().variables));
}

// nginx's ngx_http_server_names: the same name twice on one address:port.
void warn_conflicting_names(Compiler& c) {
    auto& st = c.http();
    for (const auto& addr : st.addresses) {
        if (addr.servers.size() < 2) continue;
        std::vector<std::string> exact, head;
        for (const Directive* server : addr.servers) {
            auto it = std::find_if(st.servers.begin(), st.servers.end(), [&](const auto& s) { return s.server == server; });
            for (const auto& name : it->names) {
                std::string n = name;
                bool busy = false;
                if (n.size() > 1 && n[0] == '.') {
                    const std::string base = n.substr(1);
                    busy = std::count(exact.begin(), exact.end(), base) || std::count(head.begin(), head.end(), base);
                    if (!busy) {
                        exact.push_back(base);
                        head.push_back(base);
                    }
                } else if (n.size() > 2 && n.starts_with("*.")) {
                    const std::string base = n.substr(2);
                    busy = std::count(head.begin(), head.end(), base);
                    if (!busy) head.push_back(base);
                } else {
                    busy = std::count(exact.begin(), exact.end(), n);
                    if (!busy) exact.push_back(n);
                }
                if (busy) c.warn("conflicting server name \"" + name + "\" on " + addr.addr_text + ", ignored");
            }
        }
    }
}

// A server {}: its locations merged, its header settings, names and listens.
ir::HttpServer build_server(Compiler& c, const HttpServerInfo& info, const Scope& s,
                            std::optional<ir::SslServerSettings> ssl) {
    const HttpState& st = c.http();
    ir::HttpServer server;
    server.where = location_of(info.server->where);
    server.ssl = std::move(ssl);
    if (const Directive* d = s.find("ssl_verify_client"))
        server.verify_client = static_cast<ir::SslServerSettings::VerifyClient>(d->value);
    merge_locations(c, s, server.root_location, nullptr);
    server.underscores_in_headers = s.value<bool>("underscores_in_headers", false);
    server.ignore_invalid_headers = s.value<bool>("ignore_invalid_headers", true);
    server.client_header_timeout = ir::Msec(s.value<std::int64_t>("client_header_timeout", 60000));
    server.header_buffer_size = static_cast<std::size_t>(s.value<std::int64_t>("client_header_buffer_size", 1024));
    if (const Directive* d = s.find("large_client_header_buffers")) {
        server.large_header_buffers = static_cast<std::size_t>(d->count);
        server.large_header_buffer_size = static_cast<std::size_t>(d->value);
    }
    server.max_headers = s.value<std::int64_t>("max_headers", 1000);
    server.merge_slashes = s.value<bool>("merge_slashes", true);
    server.locations = std::move(server.root_location.locations);  // already in match order
    server.static_tree = std::move(server.root_location.static_tree);
    server.root_location.locations.clear();
    server.root_location.static_tree = {};
    for (const auto& n : info.names) server.names.push_back({n, nullptr});
    server.server_name = info.first_name.value_or("");
    if (server.server_name.size() > 1 && server.server_name[0] == '.') server.server_name.erase(0, 1);
    if (server.server_name == "$hostname") {
        char host[256] = {};
        ::gethostname(host, sizeof host - 1);
        server.server_name = host;
    }
    for (const auto& re : info.regex_names) server.names.push_back({"~" + re->pattern(), re});
    for (const auto& addr : st.addresses)
        if (std::find(addr.servers.begin(), addr.servers.end(), info.server) != addr.servers.end())
            server.listens.push_back(addr.options);
    return server;
}

// An address:port and the servers listening on it, by index.
ir::HttpAddress build_address(const HttpState& st, const HttpListenAddress& addr) {
    ir::HttpAddress a;
    a.listen = addr.options;
    a.listen.bind = addr.bind;
    for (const Directive* server : addr.servers) {
        auto it = std::find_if(st.servers.begin(), st.servers.end(), [&](const auto& s) { return s.server == server; });
        const std::size_t index = static_cast<std::size_t>(it - st.servers.begin());
        a.servers.push_back(index);
        if (server == addr.default_server) a.default_server = index;
    }
    return a;
}

}  // namespace

void finish_http(Compiler& c) {
    HttpState& st = c.http();
    ir::HttpConfig http;
    const Block& http_block = *st.http->block;
    const auto server_scope = [&](const HttpServerInfo& info) {
        return Scope(std::vector<const Block*>{&http_block, info.server->block.get()});
    };

    init_upstreams(c, http);

    std::vector<std::optional<ir::SslServerSettings>> server_ssl;
    for (const auto& info : st.servers)
        server_ssl.push_back(merge_server_ssl(c, server_scope(info), st.variables));

    for (std::size_t i = 0; i < st.servers.size(); ++i) {
        const auto& info = st.servers[i];
        http.servers.push_back(build_server(c, info, server_scope(info), server_ssl[i]));
    }

    for (const auto& info : st.servers) check_duplicate_locations(*info.server->block);

    for (const auto& addr : st.addresses) {
        if (!addr.options.ssl) continue;
        auto it = std::find_if(st.servers.begin(), st.servers.end(),
                               [&](const auto& s) { return s.server == addr.default_server; });
        if (!server_ssl[static_cast<std::size_t>(it - st.servers.begin())])
            fail("no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive" + at(addr.default_server->where));
    }

    for (const auto& addr : st.addresses) http.addresses.push_back(build_address(st, addr));
    st.variables.check(c.modules());
    warn_conflicting_names(c);
    http.log_formats = std::move(st.log_formats);
    http.maps = std::move(st.maps);
    http.variables = st.variables.resolve(http.maps);
    c.config().http = std::move(http);
}

}  // namespace ngxlite::conf
