#include "runtime/core/active_config.hpp"

#include "runtime/http/request.hpp"
#include "runtime/tls/tls.hpp"


namespace ngxlite::runtime {

namespace {
// Upstream TLS contexts learn where new sessions go before a worker uses them.
void prepare_upstream_tls(const ir::Location& l) {
    if (l.proxy && l.proxy->ssl.context) prepare_client_context(l.proxy->ssl.context.get());
    for (const auto& child : l.locations) prepare_upstream_tls(child);
}
}  // namespace

ActiveConfig::ActiveConfig(std::shared_ptr<const ir::Config> config)
    : ir(std::move(config)), error_log(ir->error_logs),
      access_logs(std::make_unique<AccessLogs>(*ir, error_log)) {
    for (const auto& targets : ir->context_error_logs) context_logs.push_back(std::make_unique<ErrorLog>(targets, &error_log));
    if (ir->stream)
        for (const auto& server : ir->stream->servers) {
            if (server.ssl.context) prepare_client_context(server.ssl.context.get());
            if (server.ssl_server && server.ssl_server->context) prepare_stream_server_context(*server.ssl_server);
            for (const auto& l : server.listens) stream_servers[l.key()] = &server;
        }
    if (!ir->http) return;
    for (const auto& server : ir->http->servers) {
        for (const auto& l : server.locations) prepare_upstream_tls(l);
        if (server.ssl && server.ssl->context) prepare_server_context(*server.ssl);
    }
    for (const auto& a : ir->http->addresses) {
        ServerSelector& sel = selectors[a.listen.endpoint.text()];
        const ir::HttpServer& fallback = ir->http->servers.at(a.default_server);
        sel.tls = a.listen.ssl || (fallback.ssl && fallback.ssl->enable);  // as ngx_http_init_connection
        sel.proxy_protocol = a.listen.proxy_protocol;
        sel.add(fallback, true);
        for (std::size_t i : a.servers)
            if (i != a.default_server) sel.add(ir->http->servers.at(i), false);
    }
}

std::optional<std::string> ActiveConfig::open_error() const {
    if (auto err = error_log.open_error()) return err;
    for (const auto& log : context_logs)
        if (auto err = log->open_error()) return err;
    return access_logs->open_error();
}

void ActiveConfig::reopen_logs(uid_t owner) const {
    error_log.reopen(owner);
    for (const auto& log : context_logs) log->reopen(owner);
    access_logs->reopen(owner);
}

const ErrorLog& ActiveConfig::log_for(const RequestContext& ctx) const {
    if (ctx.location) return log(ctx.location->error_log);
    return ctx.server ? log(ctx.server->root_location.error_log) : error_log;
}

ir::Endpoint endpoint_of(const boost::asio::ip::tcp::endpoint& e) {
    return {e.address().to_string(), e.port(), e.address().is_v6()};
}

namespace {
// The entry for a connection's local address: the exact address, else its port's wildcard.
template <class Map>
auto find_by_address(const Map& map, const ir::Endpoint& local, bool udp = false) {
    ir::Listen listen;
    listen.endpoint = local;
    listen.udp = udp;
    if (auto it = map.find(listen.key()); it != map.end()) return it;
    listen.endpoint = {local.ipv6 ? "::" : "0.0.0.0", local.port, local.ipv6};
    return map.find(listen.key());
}
}  // namespace

const ServerSelector* ActiveConfig::find_selector(const ir::Endpoint& local) const {
    auto it = find_by_address(selectors, local);
    return it == selectors.end() ? nullptr : &it->second;
}

const ir::StreamServer* ActiveConfig::find_stream_server(const ir::Endpoint& local, bool udp) const {
    auto it = find_by_address(stream_servers, local, udp);
    return it == stream_servers.end() ? nullptr : it->second;
}


}  // namespace ngxlite::runtime
