// The info lines nginx's stream modules write per session, without the usual tail
// (client, server, upstream): the client connected (ngx_stream_init_connection), the
// upstream connected (ngx_stream_proxy_init_upstream), a side disconnected
// (ngx_stream_proxy_process). "udp " comes first for datagram sessions.
#pragma once

#include "runtime/core/logs.hpp"
#include "runtime/http/request.hpp"

#include <cstdint>
#include <string_view>

namespace ngxlite::runtime {

// `listen`: the address of the listen the connection came to, as nginx's addr_text.
void log_client_connected(const ErrorLog& log, const ConnectionInfo& conn, const ir::Endpoint& listen, bool udp);

// `local`: the upstream connection's own address; `peer`: nginx's u->peer.name.
void log_proxy_connected(const ErrorLog& log, std::uint64_t connection, const ir::Endpoint& local, std::string_view peer,
                         bool udp);

// The session's byte counts at its end, `from_upstream` telling which side ended it.
struct SessionBytes {
    std::uint64_t from_client, to_client, from_upstream, to_upstream;
};
void log_disconnected(const ErrorLog& log, std::uint64_t connection, bool from_upstream, const SessionBytes& bytes);

}  // namespace ngxlite::runtime
