// One HTTP/1.x connection: read a request, route it, answer, keep alive, as nginx.
#pragma once

#include "runtime/core/worker_state.hpp"
#include "runtime/http/request.hpp"

namespace ngxlite::runtime {

// Serves one client connection, accepted on an address of `selector`'s, from its first
// request on.
void serve_http(WorkerSocket socket, WorkerState& worker, ConnectionInfo conn, const ServerSelector& selector);

}  // namespace ngxlite::runtime
