// One stream {} session, as nginx's ngx_stream_proxy_module: TLS termination for
// `listen ... ssl`, the upstream chosen by the group's balancer (proxy_next_upstream on
// connect failures), TLS to it with `proxy_ssl on`, then bytes both ways until a side
// ends or proxy_timeout passes with nothing moving.
#pragma once

#include "runtime/core/worker_state.hpp"

namespace ngxlite::runtime {

void serve_stream(WorkerSocket socket, WorkerState& worker, ConnectionInfo conn, const ir::StreamServer& server);

}  // namespace ngxlite::runtime
