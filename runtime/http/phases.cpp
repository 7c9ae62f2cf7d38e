// nginx's phases before content (server rewrite, find location, location rewrite, post
// rewrite) and its internal redirects.
#include "runtime/http/handlers.hpp"

#include "runtime/http/response.hpp"
#include "runtime/http/router.hpp"

namespace ngxlite::runtime {

// Splits "uri?args" as ngx_http_split_args.
Redirect redirect_to(std::string_view target) {
    Redirect r;
    r.active = true;
    const auto q = target.find('?');
    r.uri = std::string(target.substr(0, q));
    if (q != std::string_view::npos) r.args = std::string(target.substr(q + 1));
    r.args_present = q != std::string_view::npos;
    return r;
}

// nginx's phases before content: server rewrite, find location (with its
// client_max_body_size check), location rewrite, and post rewrite back to find location
// while the URI changes; `uri_changes` counts down the 10 changes nginx allows a request.
// A named location (error_page, try_files) starts at its own rewrite phase.
Route route_request(const ir::HttpServer& server, RequestContext& ctx, std::optional<std::uint64_t> content_length,
                    const ActiveConfig& cfg, int& uri_changes, const ir::Location* named) {
    Route route;
    route.location = ctx.location = &server.root_location;
    if (!named) {
        route.script = run_script(server.root_location.script, ctx);
        if (route.script.next == ScriptResult::Next::respond) return route;
    }
    for (;;) {
        LocationMatch m;
        if (named) {
            m.location = named;
            named = nullptr;
        } else {
            m = find_location(server, ctx.request.uri);
        }
        route.location = m.location ? m.location : &server.root_location;
        if (m.regex) {  // a regex location matched (a location nested in it may have won)
            ctx.set_named_captures(*m.regex, m.captures);
            ctx.captures = std::move(m.captures);
        }
        const ir::Location& loc = *route.location;
        ctx.location = &loc;
        if (loc.internal && !ctx.request.internal) {
            route.error = 404;
            return route;
        }
        if (content_length && loc.client_max_body_size > 0 && *content_length > static_cast<std::uint64_t>(loc.client_max_body_size)) {
            cfg.log_for(ctx).write(LogLevel::error,
                                "client intended to send too large body: " + std::to_string(*content_length) + " bytes" + describe(ctx),
                                ctx.connection.id);
            route.error = 413;
            return route;
        }
        // limit_except: a method it does not allow gets the block's settings (nginx's
        // ngx_http_update_location_config), and no rewrite script runs there.
        if (loc.limit_except && !(loc.limit_except_methods & ir::method_bit(ctx.request.method))) {
            route.location = ctx.location = loc.limit_except.get();
            route.script = {};
            return route;
        }
        if (m.redirect) {
            route.error = 301;
            route.redirect = escape_uri(loc.name) + (ctx.request.args.empty() ? "" : "?" + ctx.request.args);
            return route;
        }
        if (!m.location) {  // nginx skips the location rewrite phase for the server's own level
            route.script = {};
            return route;
        }
        route.script = run_script(loc.script, ctx);
        if (route.script.location) route.location = ctx.location = route.script.location;
        if (route.script.next != ScriptResult::Next::find_location) return route;
        if (--uri_changes == 0) {
            cfg.log_for(ctx).write(LogLevel::error,
                                "rewrite or internal redirection cycle while processing \"" + ctx.request.uri + "\"" + describe(ctx),
                                ctx.connection.id);
            route.error = 500;
            return route;
        }
    }
}

// ngx_http_internal_redirect / ngx_http_named_location: false (and a 500) once the
// request has changed its URI too often.
bool follow(const Redirect& next, RequestContext& ctx, int& uri_changes, const ActiveConfig& cfg) {
    Request& req = ctx.request;
    if (--uri_changes == 0) {
        cfg.log_for(ctx).write(LogLevel::error,
                            "rewrite or internal redirection cycle while " +
                                std::string(next.named ? "redirect to named location \"" : "internally redirecting to \"") +
                                next.uri + "\"" + describe(ctx),
                            ctx.connection.id);
        return false;
    }
    req.internal = true;
    req.valid_unparsed_uri = false;
    // nginx clears every module's context: $proxy_host and $proxy_port are not found after.
    ctx.proxying = false;
    ctx.proxy_host.clear();
    ctx.proxy_port.clear();
    if (!next.named) {
        req.uri = next.uri;
        req.args = next.args;
        req.args_present = next.args_present;
    }
    return true;
}

}  // namespace ngxlite::runtime
