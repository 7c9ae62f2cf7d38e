#include "runtime/http/modules/rewrite.hpp"

#include "runtime/http/handlers.hpp"
#include "runtime/core/text.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace ngxlite::runtime {

namespace {

bool holds(const ir::IfCondition& c, RequestContext& ctx) {
    using Kind = ir::IfCondition::Kind;
    const std::string subject = expand(c.subject, ctx);
    switch (c.kind) {
    case Kind::variable: return !subject.empty() && subject != "0";
    case Kind::equal: return subject == expand(c.value, ctx);
    case Kind::not_equal: return subject != expand(c.value, ctx);
    case Kind::match: return ctx.match(*c.regex, subject);
    case Kind::not_match: {
        std::vector<std::string> ignored;
        return !c.regex->match(subject, &ignored);
    }
    default: break;
    }
    // ngx_http_script_file_code: through the open file wrapper (disable_symlinks applies).
    struct stat st {};
    OpenedFile failure;
    const bool exists = ctx.location ? file_info(subject, st, *ctx.location, ctx, &failure) : ::stat(subject.c_str(), &st) == 0;
    if (!exists && ctx.location && failure.err != ENOENT && failure.err != ENOTDIR && failure.err != ENAMETOOLONG)
        ctx.script_errors.emplace_back(true, std::string(failure.failed) + " \"" + subject + "\" failed (" +
                                                 std::to_string(failure.err) + ": " + std::strerror(failure.err) + ")");
    bool result = false;
    switch (c.kind) {
    case Kind::file: result = exists && S_ISREG(st.st_mode); break;
    case Kind::directory: result = exists && S_ISDIR(st.st_mode); break;
    case Kind::exists: result = exists; break;
    default: result = exists && (st.st_mode & S_IXUSR); break;
    }
    return result != c.negated;
}

// ngx_http_script_regex_start_code + end_code for one matching rewrite.
ScriptResult apply_rewrite(const ir::RewriteOp& op, RequestContext& ctx) {
    ScriptResult r;
    Request& req = ctx.request;
    std::string target;
    if (op.redirect) {
        target = expand(op.replacement, ctx);
    } else {
        // Captures after the replacement's '?' are escaped as arguments when the request's
        // URI came %-escaped or with '+' (ngx_http_script_copy_capture_code).
        const std::string_view path = std::string_view(req.request_uri).substr(0, req.request_uri.find('?'));
        const bool quoted = path.find_first_of("%+") != std::string_view::npos;
        bool in_args = false;
        for (const auto& p : op.replacement.parts) {
            if (p.kind == ir::Template::Part::Kind::capture && in_args && quoted) {
                if (static_cast<std::size_t>(p.capture) < ctx.captures.size())
                    target += percent_escape(ctx.captures[static_cast<std::size_t>(p.capture)], [](unsigned char c) {
                        return c <= 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '%' || c == '&' || c == '+' ||
                               c == ';' || c == '<' || c == '>' || c == '?' || c == '\\' || c == '^' || c == '`' ||
                               c == '{' || c == '|' || c == '}';
                    });
                continue;
            }
            ir::Template one;
            one.parts.push_back(p);
            const std::string piece = expand(one, ctx);
            if (p.kind == ir::Template::Part::Kind::literal && piece.find('?') != std::string::npos) in_args = true;
            target += piece;
        }
    }
    if (op.redirect) {
        // The request's arguments follow, unless the replacement ended with '?'.
        if (op.add_args && !req.args.empty()) target += (target.find('?') == std::string::npos ? "?" : "&") + req.args;
        r.next = ScriptResult::Next::respond;
        r.status = op.status;
        r.text = std::move(target);
        r.has_text = true;
        return r;
    }
    if (auto q = target.find('?'); q != std::string::npos) {
        std::string args = target.substr(q + 1);
        if (op.add_args && !req.args.empty()) args += "&" + req.args;
        req.args = std::move(args);
        req.args_present = true;
        target.resize(q);
    } else if (!op.add_args) {
        req.args.clear();
        req.args_present = true;
    }
    req.uri = std::move(target);
    req.valid_unparsed_uri = false;
    req.internal = true;
    if (op.flag == ir::RewriteOp::Flag::break_) {
        req.valid_location = false;
        r.next = ScriptResult::Next::stop;
    } else if (op.flag == ir::RewriteOp::Flag::last) {
        r.next = ScriptResult::Next::find_location;
    }
    return r;
}

// The statements in order; a rewrite without a flag changes the URI and goes on.
ScriptResult run(const std::vector<ir::RewriteOp>& script, RequestContext& ctx, bool& uri_changed) {
    using Kind = ir::RewriteOp::Kind;
    ScriptResult result;
    for (const auto& op : script) {
        switch (op.kind) {
        case Kind::break_:
            // ngx_http_script_break_code: after a URI change, proxy_pass's URI part no
            // longer replaces the location's prefix.
            if (uri_changed) ctx.request.valid_location = false;
            result.next = ScriptResult::Next::stop;
            return result;
        case Kind::set: ctx.set_variable(op.variable, expand(op.value, ctx)); break;
        case Kind::return_:
            result.next = ScriptResult::Next::respond;
            result.status = op.ret.code;
            result.has_text = !op.ret.text.parts.empty();
            result.text = expand(op.ret.text, ctx);
            return result;
        case Kind::rewrite: {
            if (!ctx.match(*op.regex, ctx.request.uri)) break;
            ScriptResult r = apply_rewrite(op, ctx);
            if (r.next != ScriptResult::Next::go_on) {
                r.location = result.location;
                return r;
            }
            uri_changed = true;
            break;
        }
        case Kind::if_: {
            if (!holds(op.condition, ctx)) break;
            result.location = op.if_location.get();
            ScriptResult inner = run(op.if_location->script, ctx, uri_changed);
            if (inner.next != ScriptResult::Next::go_on) {
                if (!inner.location) inner.location = result.location;
                return inner;
            }
            if (inner.location) result.location = inner.location;
            break;
        }
        }
    }
    return result;
}

}  // namespace

ScriptResult run_script(const std::vector<ir::RewriteOp>& script, RequestContext& ctx) {
    bool uri_changed = false;
    ScriptResult result = run(script, ctx, uri_changed);
    if (result.next == ScriptResult::Next::go_on && uri_changed) result.next = ScriptResult::Next::find_location;
    return result;
}

// `return` (and a redirecting rewrite): the code with a text, a redirect, or nginx's page.
void answer_return(Response& r, const ScriptResult& ret, const ir::Location& loc, const RequestContext& ctx) {
    r.status = ret.status;
    if (ret.status == 444) {
        r.close = true;
        return;
    }
    const bool redirect = ret.status == 301 || ret.status == 302 || ret.status == 303 || ret.status == 307 || ret.status == 308;
    if (redirect) {
        // nginx builds a relative target's absolute form itself and sends it early;
        // an absolute one is an ordinary header, sent after Connection.
        set_location(r, ret.text, ctx);
        set_error(r, ret.status, loc.server_tokens);
    } else if (ret.has_text) {
        // ngx_http_set_content_type keeps one already set (X-Accel-Redirect's).
        if (r.content_type.empty()) r.content_type = mime_type(loc, ctx.request.uri);
        r.body = ret.text;
        r.content_length = r.body.size();
    } else if (ret.status >= 300) {
        set_error(r, ret.status, loc.server_tokens);
    } else {
        // ngx_http_send_response; a 204 loses both in the header filter, unless
        // error_page gives the answer another status.
        if (r.content_type.empty()) r.content_type = mime_type(loc, ctx.request.uri);
        r.content_length = 0;
    }
}

}  // namespace ngxlite::runtime
