// One HTTP/1.x request on its connection, as ngx_http_request.c and the core module run
// it: the head read and checked, the post-read phase, nginx's phases once per location
// the request goes to (internal redirects, error_page), then the header filters and the
// answer written and logged.
#include "runtime/http/connection.hpp"

#include "runtime/core/text.hpp"
#include "runtime/http/client_body.hpp"
#include "runtime/http/filters/gzip_filter.hpp"
#include "runtime/http/filters/header_filter.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/http/header_arena.hpp"
#include "runtime/http/modules/access_phase.hpp"
#include "runtime/http/proxy/proxy.hpp"
#include "runtime/http/request_head.hpp"
#include "runtime/http/response.hpp"
#include "runtime/http/response_writer.hpp"
#include "runtime/tls/tls.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <optional>

namespace ngxlite::runtime {

namespace {

// A body that stopped coming (client_body_timeout, or the client closed): nginx logs the
// request (408, or 400 with its info line) and closes without an answer.
void body_failed(BodyEnd end, RequestContext& ctx, const ir::Location& loc, const ActiveConfig& cfg) {
    if (end == BodyEnd::closed)
        cfg.log_for(ctx).write(LogLevel::info, "client prematurely closed connection" + describe(ctx), ctx.connection.id);
    ctx.status = end == BodyEnd::timed_out ? 408 : 400;
    cfg.access_logs->write(loc.access_logs, cfg.ir->http->log_formats, ctx, &cfg.log_for(ctx));
}

// ngx_http_update_location_config's keep-alive decision for the request's location:
// keepalive_timeout, keepalive_requests, keepalive_time, keepalive_disable.
bool keepalive_allowed(const RequestHeadReader& head, const ir::Location& loc, const ConnectionInfo& conn, const Request& req) {
    if (!head.keep_alive() || loc.keepalive_timeout.count() <= 0) return false;
    if (conn.requests >= static_cast<std::uint64_t>(loc.keepalive_requests)) return false;
    if (std::chrono::steady_clock::now() - conn.start > loc.keepalive_time) return false;
    if (const std::string_view* ua = req.header("User-Agent")) {
        const UserAgentKind kind = user_agent_kind(*ua);
        if (kind.msie6 && req.method == "POST" && (loc.keepalive_disable & (1u << 2))) return false;
        if (kind.safari && (loc.keepalive_disable & (1u << 3))) return false;
    }
    return true;
}

Task<void> drain(WorkerSocket socket) {
    char sink[16384];
    for (;;) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), use_tuple);
        if (ec) co_return;
    }
}

// post_action (ngx_http_post_action): once the answer is out, the request goes on to the
// URI or named location with nothing more sent to the client; a proxy_pass there makes
// its request and its answer is dropped. Returns the location the request ends in (its
// access_log logs it).
Task<const ir::Location*> post_action(HttpConnection& c, RequestContext& ctx, const ir::Location* loc, int& uri_changes) {
    const ActiveConfig& cfg = *c.cfg;
    for (bool ran = false; !loc->post_action.empty() && !(ran && uri_changes == 0); ran = true) {
        Redirect next;
        if (loc->post_action.starts_with("@")) {
            next.active = true;
            next.uri = loc->post_action;
            next.named = find_named(ctx.server->locations, loc->post_action);
            if (!next.named) {
                cfg.log_for(ctx).write(LogLevel::error, "could not find named location \"" + next.uri + "\"" + describe(ctx), ctx.connection.id);
                co_return loc;
            }
        } else {
            next = redirect_to(loc->post_action);
        }
        if (!follow(next, ctx, uri_changes, cfg)) co_return loc;
        const Route route = route_request(*ctx.server, ctx, std::nullopt, cfg, uri_changes, next.named);
        loc = route.location;
        Response refused;
        if (route.error || route.script.next == ScriptResult::Next::respond || access_phase(*loc, ctx, cfg, refused) != 0 || !loc->proxy)
            continue;
        // The upstream's answer goes into one end of a socket pair; the other drops it.
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0) co_return loc;
        WorkerSocket sink(c.stream.get_executor()), drained(c.stream.get_executor());
        sink.assign(tcp::v4(), fds[0]);
        drained.assign(tcp::v4(), fds[1]);
        asio::co_spawn(c.stream.get_executor(), drain(std::move(drained)), asio::detached);
        TransportStream discard(std::move(sink), c.worker.timers);
        beast::flat_buffer none;
        co_await proxy_http(discard, none, *loc, ctx, cfg, false);
    }
    co_return loc;
}

// A request's head memory: a head of client_header_buffer_size's 1k and its fields, 16
// reserved (32 bytes each), fit.
constexpr std::size_t kHeaderFields = 16;
constexpr std::size_t kHeadMemory = 2048;

// What happens after a step: the request goes on, or it is over and the connection is
// kept for another or closed.
enum class Flow { go_on, keep_alive, close };

// One request's state from its first byte to its access-log line.
struct RequestState {
    RequestState(HttpConnection& conn, beast::flat_buffer& buf, bool pipelined)
        : c(conn), buffer(buf), cfg(*conn.cfg), pipelined(pipelined), req(started_now(head_memory.allocator().resource())),
          ctx(conn.conn, req),
          head(*conn.selector, req, pipelined) {
        ctx.variables = &cfg.ir->http->variables;
    }
    // A body's temporary file goes with the request, unless client_body_in_file_only on keeps it.
    ~RequestState() {
        if (!req.body_file.empty() && !(loc && loc->client_body_in_file_only == ir::Location::BodyInFile::on))
            ::unlink(req.body_file.c_str());
    }
    RequestState(const RequestState&) = delete;
    RequestState& operator=(const RequestState&) = delete;

    static Request started_now(std::pmr::memory_resource* head_memory) {
        Request r(head_memory);
        r.start = std::chrono::system_clock::now();
        r.headers.reserve(kHeaderFields);
        return r;
    }
    void log(LogLevel level, const std::string& line) const { cfg.log_for(ctx).write(level, line + describe(ctx), c.conn.id); }
    void log_access() const { cfg.access_logs->write(loc->access_logs, cfg.ir->http->log_formats, ctx, &cfg.log_for(ctx)); }

    HttpConnection& c;
    beast::flat_buffer& buffer;
    const ActiveConfig& cfg;
    const bool pipelined;
    // The head's bytes and header fields: most heads fit in the frame, no allocation
    // (larger ones continue on the heap). Not kept by the connection, whose idle wait
    // holds no buffer.
    HeaderArena<kHeadMemory> head_memory;
    std::pmr::string head_bytes{head_memory.allocator()};  // what req.headers view
    Request req;
    RequestContext ctx;
    RequestHeadReader head;
    std::optional<RequestBody> body;  // once the head is read
    Response resp;
    const ir::HttpServer* server = nullptr;
    const ir::Location* loc = nullptr;
    bool refused = false;          // the head broke nginx's rules: answered with head.status()
    bool streamed = false;         // proxy_request_buffering off: the body goes upstream as it comes
    bool accel_headers = false;    // resp holds X-Accel-Redirect's headers for the redirect
    bool error_page_used = false;  // error_page applies once unless recursive_error_pages
    int uri_changes = 11;          // NGX_HTTP_MAX_URI_CHANGES + 1
};

// The head as it comes, within client_header_timeout. close: the client left, or timed
// out on a started request (logged as nginx's 408).
Task<Flow> read_head(RequestState& s) {
    s.c.stream.expires_after(s.c.header_timeout);
    RequestHeadReader::Step step;
    boost::system::error_code rec;
    for (;;) {
        step = s.head.step(received_bytes(s.buffer));
        s.ctx.server = &s.head.server();
        if (step == RequestHeadReader::Step::ignored_header) {
            s.log(LogLevel::info, s.head.ignored_line());
            continue;
        }
        if (step != RequestHeadReader::Step::incomplete) break;
        // The reader refuses a head larger than nginx's header buffers hold.
        auto [ec, n] = co_await s.c.stream.async_read_some(s.buffer.prepare(kLargeHeaderBuffer), use_tuple);
        s.buffer.commit(n);
        if (ec) {
            rec = ec;
            break;
        }
    }
    s.head.keep_head(received_bytes(s.buffer), s.head_bytes);
    s.server = s.ctx.server;
    s.loc = &s.server->root_location;
    if (rec) {
        if (rec != beast::error::timeout || s.buffer.size() == 0) co_return Flow::close;  // gone: nginx closes without an answer
        s.ctx.status = 408;
        s.log(LogLevel::info, std::string("client timed out (110: Connection timed out) while reading client request ") +
                                  (s.head.reading_headers() ? "headers" : "line"));
        s.log_access();
        co_return Flow::close;
    }
    s.body.emplace(s.head);
    s.req.pipelined = s.pipelined;
    s.req.length = step == RequestHeadReader::Step::done ? s.head.size() : s.buffer.size();
    s.refused = step == RequestHeadReader::Step::refused;
    co_return Flow::go_on;
}

// nginx's post-read, once the headers are in: the server the Host names and its TLS
// checks (a refusal is answered at that server's level by the phases), realip, and
// `Expect: 100-continue` answered at once (nginx answers it whenever it reads or drops a
// body: always).
Task<Flow> post_read(RequestState& s, int& refusal) {
    if (s.refused) {
        // Refused once the request line was in: its error, and error_page, come from
        // the server chosen so far, and the connection closes after.
        s.log(LogLevel::info, s.head.refusal());
        refusal = s.head.status();
        s.resp.close = true;
        co_return Flow::go_on;
    }
    ConnectionInfo& conn = s.c.conn;
    ++conn.requests;
    s.buffer.consume(s.head.size());
    ServerSelector::RegexMatch name;
    s.server = &s.c.selector->select(s.req.host, &name);
    if (name.regex) s.ctx.set_named_captures(*name.regex, name.groups);
    s.ctx.server = s.server;
    // ngx_http_process_request's TLS checks, for the server the Host chose.
    if (s.c.plain_http) {
        s.log(LogLevel::info, "client sent plain HTTP request to HTTPS port while reading client request headers");
        refusal = 497;
    } else if (conn.ssl) {
        std::string why;
        refusal = refuse_client(conn.ssl, *s.server, s.req.host, why);
        if (refusal) s.log(LogLevel::info, why + " while reading client request headers");
    }
    apply_real_ip(s.server->root_location, s.ctx);
    if (s.req.version != 11 || refusal) co_return Flow::go_on;
    if (const std::string_view* expect = s.req.header("Expect"); expect && iequal(*expect, "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        s.c.stream.expires_after(s.server->root_location.send_timeout);
        auto [ec, n] = co_await asio::async_write(s.c.stream, asio::buffer(kContinue), use_tuple);
        if (ec) co_return Flow::close;
        s.ctx.continue_bytes = n;
    }
    co_return Flow::go_on;
}

// A proxied request's body (other handlers drop it after their answer): read whole, or
// with proxy_request_buffering off what has come, the rest going upstream as it comes.
Task<Flow> read_proxied_body(RequestState& s) {
    RequestBody& body = *s.body;
    if (s.streamed) co_return Flow::go_on;  // read once: what is left goes on as it comes
    if (body.done()) {                      // nothing to read: a Content-Length of 0
        s.req.body_read = s.head.content_length().has_value();
        co_return Flow::go_on;
    }
    const ir::Location& loc = *s.loc;
    // Statements, not a conditional expression: GCC 12 miscompiles co_await in one.
    BodyEnd end_of_body;
    if (streams_body(*loc.proxy, s.head.chunked()))
        end_of_body = co_await read_ready_body(s.c.stream, s.buffer, body, loc, s.ctx, s.cfg);
    else
        end_of_body = co_await read_body(s.c.stream, s.buffer, body, loc, s.ctx, s.cfg, true);
    switch (end_of_body) {
    case BodyEnd::more:
        s.streamed = true;
        s.req.body_streamed = s.head.content_length() ? static_cast<std::int64_t>(*s.head.content_length()) : -1;
        break;
    case BodyEnd::read:
        s.req.body_read = true;
        if (s.head.content_length() || s.head.chunked())
            if (!write_body_file(loc, s.ctx, s.head.chunked(), s.cfg)) set_error(s.resp, 500, loc.server_tokens);
        break;
    case BodyEnd::too_large: set_error(s.resp, 413, loc.server_tokens); break;
    case BodyEnd::invalid: set_error(s.resp, 400, loc.server_tokens); break;
    case BodyEnd::timed_out:
    case BodyEnd::closed: body_failed(end_of_body, s.ctx, loc, s.cfg); co_return Flow::close;
    }
    co_return Flow::go_on;
}

// The phases before content: find location's errors, the rewrite module's `return`,
// access (a 401 waits out auth_delay first), and a proxied request's body.
Task<Flow> before_content(RequestState& s, const Route& route) {
    if (route.error) {
        if (!route.redirect.empty()) set_location(s.resp, route.redirect, s.ctx);
        set_error(s.resp, route.error, s.loc->server_tokens);
        co_return Flow::go_on;
    }
    if (route.script.next == ScriptResult::Next::respond) {
        answer_return(s.resp, route.script, *s.loc, s.ctx);
        co_return Flow::go_on;
    }
    if (const int denied = access_phase(*s.loc, s.ctx, s.cfg, s.resp)) {
        bool client_stayed = true;
        if (denied == 401) client_stayed = co_await delay_unauthorized(s.c.stream, *s.loc, s.ctx, s.cfg);
        if (!client_stayed) {
            s.ctx.status = 499;
            s.log_access();
            co_return Flow::close;
        }
        set_error(s.resp, denied, s.loc->server_tokens);
        co_return Flow::go_on;
    }
    if (s.loc->proxy) co_return co_await read_proxied_body(s);
    co_return Flow::go_on;
}

// X-Accel-Redirect: its kept headers go with the answer, the request goes on at its
// target; a URI nginx finds unsafe is a 404.
void take_accel_redirect(RequestState& s, AccelRedirect& accel, Redirect& next) {
    for (const auto& [name, value] : accel.headers) s.resp.headers.add(name, value);
    s.resp.content_type = s.resp.headers.keep(accel.content_type);
    s.accel_headers = true;
    if (accel.target.starts_with("@")) {
        next.active = true;
        next.uri = accel.target;
        next.named = find_named(s.server->locations, next.uri);
    } else if (auto target = safe_redirect(accel, s.ctx, s.cfg)) {
        next = std::move(*target);
        if (s.req.method != "HEAD") s.req.method = "GET";
    } else {
        set_error(s.resp, 404, s.loc->server_tokens);
    }
}

// proxy_pass's content phase. go_on: an error to answer in s.resp, or an X-Accel-Redirect
// in `next`; otherwise the upstream's answer went out and was logged.
Task<Flow> proxy_content(RequestState& s, Redirect& next) {
    const bool client_keep_alive = keepalive_allowed(s.head, *s.loc, s.c.conn, s.req);
    s.req.body_framed = s.head.content_length() || s.head.chunked();
    StreamedBody rest(s.c.stream, s.buffer, *s.body, *s.loc, s.ctx, s.cfg);
    ProxyResult pr = co_await proxy_http(s.c.stream, s.buffer, *s.loc, s.ctx, s.cfg, client_keep_alive,
                                         s.streamed && !s.body->done() ? &rest : nullptr);
    if (pr.body_end == BodyEnd::timed_out || pr.body_end == BodyEnd::closed) {
        body_failed(pr.body_end, s.ctx, *s.loc, s.cfg);
        co_return Flow::close;
    }
    if (pr.client_closed) {
        s.ctx.status = 499;  // nginx's code for a client that left first
        s.log_access();
        co_return Flow::close;
    }
    if (pr.accel) {
        take_accel_redirect(s, *pr.accel, next);
        co_return Flow::go_on;
    }
    if (pr.error_status != 0) {
        set_error(s.resp, pr.error_status, s.loc->server_tokens);
        co_return Flow::go_on;
    }
    s.ctx.bytes_sent = pr.sent.total + s.ctx.continue_bytes;
    s.ctx.body_bytes_sent = pr.sent.body + s.ctx.continue_bytes;
    s.loc = co_await post_action(s.c, s.ctx, s.loc, s.uri_changes);
    s.log_access();
    // A body still coming keeps the connection from another request (nginx's r->reading_body).
    if (!pr.keep_alive || !s.body->done()) {
        co_await finish_writing(s.c.stream, s.loc->send_timeout);
        co_return Flow::close;
    }
    s.c.idle_timeout = s.loc->keepalive_timeout;
    co_return Flow::keep_alive;
}

// error_page for the answer's status, once per request unless recursive_error_pages: an
// internal redirect to a URI or named location, or a redirect to a URL.
void apply_error_page(RequestState& s, Redirect& next) {
    for (const auto& page : s.loc->error_pages) {
        if (page.status != s.resp.status) continue;
        s.error_page_used = !s.loc->recursive_error_pages;
        const std::string target = expand(page.uri, s.ctx);
        if (target.starts_with("/") || target.starts_with("@")) {
            s.ctx.status_override = page.overwrite >= 0 ? page.overwrite : s.resp.status;
            if (s.req.method != "HEAD") s.req.method = "GET";
            if (target.starts_with("@")) {
                next.active = true;
                next.uri = target;
                next.named = find_named(s.server->locations, target);
            } else {
                next = redirect_to(target);
            }
        } else {
            // A URL: a redirect, 302 unless the page says 301/303/307/308.
            const int code = page.overwrite == 301 || page.overwrite == 303 || page.overwrite == 307 || page.overwrite == 308
                                 ? page.overwrite
                                 : 302;
            const bool close = s.resp.close;
            s.resp = Response{};
            s.resp.headers.add("Location", target);
            set_error(s.resp, code, s.loc->server_tokens);
            s.resp.close = close;
        }
        return;
    }
}

// Starts the phases again at `next`. False: it cannot (no such named location, too many
// URI changes), and s.resp holds the 500.
bool internal_redirect(RequestState& s, const Redirect& next) {
    if (next.uri.starts_with("@") && !next.named) {
        s.log(LogLevel::error, "could not find named location \"" + next.uri + "\"");
        s.resp = Response{};
        set_error(s.resp, 500, s.loc->server_tokens);
        return false;
    }
    // An internal redirect keeps the answer's Location (nginx's headers_out.location),
    // and X-Accel-Redirect's headers.
    Response kept;
    kept.close = s.resp.close;
    if (std::exchange(s.accel_headers, false)) {
        kept.content_type = s.resp.content_type;  // its bytes move with the list
        kept.headers = std::move(s.resp.headers);
    } else {
        for (const auto& h : s.resp.headers)
            if (iequal(h.name, "Location") || h.name == "WWW-Authenticate") kept.headers.add(h.name, h.value);
    }
    kept.location = kept.headers.keep(s.resp.location);
    s.resp = std::move(kept);
    if (follow(next, s.ctx, s.uri_changes, s.cfg)) return true;
    set_error(s.resp, 500, s.loc->server_tokens);
    return false;
}

// nginx's phases, one round per location the request is in: index, try_files, error_page
// and X-Accel-Redirect start another. go_on: the answer in s.resp is to be sent;
// otherwise the upstream answered and the request is over.
Task<Flow> run_phases(RequestState& s, int refusal) {
    s.ctx.maps = &s.cfg.ir->http->maps;
    const ir::Location* named = nullptr;
    for (;;) {
        // A refused request gets its error (and error_page) at the server level.
        const Route route = refusal ? Route{s.ctx.location = &s.server->root_location, {}, std::exchange(refusal, 0), {}}
                                    : route_request(*s.server, s.ctx, s.head.content_length(), s.cfg, s.uri_changes, named);
        named = nullptr;
        s.loc = route.location;
        for (const auto& [crit, e] : std::exchange(s.ctx.script_errors, {})) s.log(crit ? LogLevel::crit : LogLevel::error, e);
        Flow flow = co_await before_content(s, route);
        if (flow != Flow::go_on) co_return flow;
        Redirect next;
        if (s.resp.status == 200 && !s.resp.special && route.script.next != ScriptResult::Next::respond &&
            (!s.loc->try_files || try_files(*s.loc->try_files, s.resp, next, *s.loc, s.ctx, s.cfg)) && !next.active) {
            if (s.loc->proxy) {
                flow = co_await proxy_content(s, next);
                if (flow != Flow::go_on) co_return flow;
            } else {
                serve_static(s.resp, next, *s.loc, s.ctx, s.cfg);
            }
        }
        if (s.resp.special && !s.error_page_used && !next.active) apply_error_page(s, next);
        if (!next.active || !internal_redirect(s, next)) co_return Flow::go_on;
        named = next.named;
    }
}

// error_page's status for the page it led to (a bare "=" keeps the page's own).
void apply_status_override(RequestState& s) {
    Response& resp = s.resp;
    if (!s.ctx.status_override || resp.special || resp.status == s.ctx.status_override) return;
    resp.status = s.ctx.status_override;
    // nginx sends Last-Modified only with 200/206/304, Accept-Ranges only with 200.
    if (resp.status != 206 && resp.status != 304) resp.last_modified.reset();
    if (resp.status != 200) resp.accept_ranges = false;
}

// A body nobody read, dropped before the answer: what has come of it is checked now, and
// a framing error turns the answer into a 400 (an error page goes out, then the close).
void check_unread_body(RequestState& s) {
    Response& resp = s.resp;
    // A streamed body cut short closes the connection after the answer (r->reading_body).
    if (s.streamed && !s.body->done()) {
        resp.close = true;
        return;
    }
    if (s.refused || s.body->done()) return;
    if (take_buffered(s.buffer, *s.body, *s.loc, s.ctx, s.cfg, nullptr) != RequestBody::Status::invalid) return;
    if (resp.special) {
        resp.close = true;
        return;
    }
    if (resp.file_fd >= 0) ::close(resp.file_fd);
    resp = Response{};
    set_error(resp, 400, s.loc->server_tokens);
}

// The answer in s.resp through nginx's header filters (not modified, headers, range,
// chunked), written, logged; then the body nobody read is dropped. False: close.
Task<bool> respond(RequestState& s) {
    Response& resp = s.resp;
    const ir::Location& answered = *s.loc;  // the location whose answer goes out
    if (resp.status >= 494 && resp.status <= 497) resp.status = 400;  // sent and logged as 400
    if (resp.status == 204) {  // ngx_http_header_filter: no body, no type, no length
        resp.content_type = {};
        resp.content_length.reset();
        resp.last_modified.reset();
        resp.body.clear();
    }
    s.ctx.status = resp.status;
    if (resp.close && resp.status == 444) {
        s.log_access();
        co_return false;
    }
    check_unread_body(s);
    const std::time_t now = std::time(nullptr);  // one clock reading for Date and Expires, as nginx
    not_modified_filter(resp, answered, s.ctx);
    add_location_headers(resp, answered, s.ctx, now);
    gzip_header_filter(resp, answered, s.ctx, false);
    range_filter(resp, answered, s.ctx);
    s.ctx.status = resp.status;
    const bool head_only = s.req.method == "HEAD";
    if (!chunked_filter(resp, !resp.content_length, answered, s.req)) resp.close = true;
    const bool keep_alive = !resp.close && keepalive_allowed(s.head, answered, s.c.conn, s.req);
    s.ctx.sent_head = &resp;
    // An HTTP/0.9 answer is the body alone.
    const std::string response_head = s.req.version == 9 ? std::string() : serialize_head(resp, keep_alive, answered, now);
    const boost::system::error_code wec =
        co_await send_response(s.c.stream, s.ctx, resp, answered, response_head, !head_only, s.cfg);
    if (!wec && !s.refused) s.loc = co_await post_action(s.c, s.ctx, s.loc, s.uri_changes);
    s.log_access();
    if (wec || resp.drop_after) co_return false;
    // A body nobody read is read and dropped (nginx's discarded body): the next request follows it.
    if (keep_alive && !s.body->done() &&
        co_await read_body(s.c.stream, s.buffer, *s.body, *s.loc, s.ctx, s.cfg, false) != BodyEnd::read)
        co_return false;
    if (!keep_alive) {
        co_await finish_writing(s.c.stream, s.loc->send_timeout);
        co_return false;
    }
    s.c.idle_timeout = s.loc->keepalive_timeout;
    co_return true;
}

}  // namespace

Task<bool> serve_request(HttpConnection& c, beast::flat_buffer& buffer, bool pipelined) {
    RequestState s(c, buffer, pipelined);
    if (co_await read_head(s) == Flow::close) co_return false;
    if (s.refused && !s.head.reading_headers()) {
        // Refused in its request line: the error at once, then the close (before nginx
        // decides on keep-alive).
        s.log(LogLevel::info, s.head.refusal());
        set_error(s.resp, s.head.status(), s.loc->server_tokens);
        s.resp.close = true;
    } else {
        int refusal = 0;
        if (co_await post_read(s, refusal) == Flow::close) co_return false;
        const Flow flow = co_await run_phases(s, refusal);
        if (flow != Flow::go_on) co_return flow == Flow::keep_alive;
        apply_status_override(s);
    }
    co_return co_await respond(s);
}

}  // namespace ngxlite::runtime
