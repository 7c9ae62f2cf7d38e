// nginx's access phase: the access module's allow/deny, then auth_basic, combined by
// `satisfy`, then the post-access phase; and auth_delay, which holds a 401 back.
#pragma once

#include "runtime/core/active_config.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/core/net.hpp"
#include "runtime/http/request.hpp"
#include "runtime/io/transport_stream.hpp"

namespace ngxlite::runtime {

// realip (the preaccess phase), then the access phase: 0 lets the request in, else the
// status to answer (403; 401, with WWW-Authenticate in `r`; 500), logged as nginx logs it.
int access_phase(const ir::Location& loc, RequestContext& ctx, const ActiveConfig& cfg, Response& r);

// auth_delay before a 401 (ngx_http_core_auth_delay): false when the client closed its side
// meanwhile (logged as ngx_http_test_reading logs it; the request ends with 499).
Task<bool> delay_unauthorized(TransportStream& client, const ir::Location& loc, const RequestContext& ctx, const ActiveConfig& cfg);

}  // namespace ngxlite::runtime
