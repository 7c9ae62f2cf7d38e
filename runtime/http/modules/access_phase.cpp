#include "runtime/http/modules/access_phase.hpp"

#include "runtime/http/modules/auth_basic.hpp"
#include "runtime/http/response.hpp"
#include "runtime/http/proxy/proxy.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>

namespace ngxlite::runtime {

namespace {

void log_forbidden(const RequestContext& ctx, const ActiveConfig& cfg) {
    cfg.log_for(ctx).write(LogLevel::error, "access forbidden by rule" + describe(ctx), ctx.connection.id);
}

// ngx_http_access_handler: the first rule matching the client decides; with satisfy all
// a deny is logged here, with any only if nothing else lets the request in.
int access_rules(const ir::Location& loc, const RequestContext& ctx, const ActiveConfig& cfg) {
    const ir::AccessRule* rule = first_match(loc.access_rules, ctx.remote_addr());
    if (!rule) return kAccessDeclined;
    if (rule->allow) return kAccessAllowed;
    if (loc.satisfy == ir::Location::Satisfy::all) log_forbidden(ctx, cfg);
    return 403;
}

}  // namespace

int access_phase(const ir::Location& loc, RequestContext& ctx, const ActiveConfig& cfg, Response& r) {
    apply_real_ip(loc, ctx);
    // nginx runs the access phase's handlers in the reverse order of their modules:
    // allow/deny, then auth_basic.
    if (loc.satisfy == ir::Location::Satisfy::all) {  // each alone: the first refusal answers
        if (const int rc = access_rules(loc, ctx, cfg); rc > 0) return rc;
        return std::max(auth_basic(loc, ctx, cfg, r), 0);
    }
    // satisfy any: the first handler to let the request in ends the phase; a 401 or 403
    // waits for the others (a 401 winning), any other status answers at once.
    int access_code = 0;
    for (int handler = 0; handler < 2; ++handler) {
        const int rc = handler == 0 ? access_rules(loc, ctx, cfg) : auth_basic(loc, ctx, cfg, r);
        if (rc == kAccessAllowed) {
            r.headers.erase_all("WWW-Authenticate");
            return 0;
        }
        if (rc == 401 || rc == 403) {
            if (access_code != 401) access_code = rc;
        } else if (rc != kAccessDeclined) {
            return rc;
        }
    }
    if (access_code == 403) log_forbidden(ctx, cfg);  // the post-access phase's line
    return access_code;
}

Task<bool> delay_unauthorized(TransportStream& client, const ir::Location& loc, const RequestContext& ctx, const ActiveConfig& cfg) {
    if (loc.auth_delay.count() == 0) co_return true;
    cfg.log_for(ctx).write(LogLevel::info, "delaying unauthorized request" + describe(ctx), ctx.connection.id);
    client.timed().expires_never();
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, WorkerExecutor> timer(
        client.socket().get_executor(), loc.auth_delay);
    using namespace asio::experimental::awaitable_operators;
    const auto outcome = co_await (timer.async_wait(use_tuple) || client_closes(client));
    if (outcome.index() == 0) co_return true;
    cfg.log_for(ctx).write(LogLevel::info, "client prematurely closed connection" + describe(ctx), ctx.connection.id);
    co_return false;
}

}  // namespace ngxlite::runtime
