#include "runtime/http/http_session.hpp"

#include "parser/ir/values.hpp"

#include "runtime/http/modules/access_phase.hpp"
#include "runtime/http/client_body.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/core/net.hpp"
#include "runtime/tls/ocsp.hpp"
#include "runtime/http/proxy/proxy.hpp"
#include "runtime/http/request_head.hpp"
#include "runtime/upstream/resolver.hpp"
#include "runtime/http/modules/rewrite.hpp"
#include "runtime/core/text.hpp"
#include "runtime/http/response.hpp"
#include "runtime/tls/tls.hpp"
#include "runtime/io/transport_stream.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace ngxlite::runtime {

namespace {

// One client connection: what outlives its requests. Counted in its worker while it
// exists; the last one out ends a graceful stop early.
struct Connection {
    Connection(WorkerState& w, std::shared_ptr<const ActiveConfig> config, ConnectionInfo info, const ServerSelector& s,
               WorkerSocket socket)
        : worker(w), cfg(std::move(config)), conn(std::move(info)), selector(&s),
          stream(std::move(socket), w.timers),
          // Until a Host header picks a server, the address's default server's timeouts apply.
          header_timeout(s.select("").client_header_timeout), idle_timeout(header_timeout) {
        ++worker.connections;
    }
    ~Connection() {
        stream.timed().expires_never();  // before wind_down looks for deadlines left
        if (--worker.connections == 0 && worker.stopping) worker.wind_down();
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    WorkerState& worker;
    std::shared_ptr<const ActiveConfig> cfg;
    ConnectionInfo conn;
    const ServerSelector* selector;
    TransportStream stream;
    bool plain_http = false;  // plain HTTP came to a `listen ... ssl` address: answered 400 (nginx's 497)
    char peeked = 0;          // the first byte waiting to be read, looked at, left in the socket
    std::chrono::milliseconds header_timeout;
    std::chrono::milliseconds idle_timeout;  // until the next request begins
};

// The connection's last answer is out: TLS's close_notify, then the write side shut,
// as nginx closes a connection.
Task<void> finish_writing(TransportStream& stream, std::chrono::milliseconds send_timeout) {
    if (stream.tls_handle()) {
        stream.expires_after(send_timeout);
        co_await stream.async_close_notify(use_tuple);
    }
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

// A body that stopped coming (client_body_timeout, or the client closed): nginx logs the
// request (408, or 400 with its info line) and closes without an answer.
void body_failed(BodyEnd end, RequestContext& ctx, const ir::Location& loc, const ActiveConfig& cfg) {
    if (end == BodyEnd::closed)
        cfg.log_for(ctx).write(LogLevel::info, "client prematurely closed connection" + describe(ctx), ctx.connection.id);
    ctx.status = end == BodyEnd::timed_out ? 408 : 400;
    cfg.access_logs->write(loc.access_logs, cfg.ir->http->log_formats, ctx);
}

// ngx_http_update_location_config's keep-alive decision for the request's location:
// keepalive_timeout, keepalive_requests, keepalive_time, keepalive_disable.
bool keepalive_allowed(const RequestHeadReader& head, const ir::Location& loc, const ConnectionInfo& conn, const Request& req) {
    if (!head.keep_alive() || loc.keepalive_timeout.count() <= 0) return false;
    if (conn.requests >= static_cast<std::uint64_t>(loc.keepalive_requests)) return false;
    if (std::chrono::steady_clock::now() - conn.start > loc.keepalive_time) return false;
    if (const std::string* ua = req.header("User-Agent")) {
        // ngx_http_user_agent: MSIE 4-6 (6 without SV1) is "msie6", Safari on Mac OS X "safari".
        const std::string_view v = *ua;
        bool msie = false, msie6 = false;
        if (const auto at = v.find("MSIE "); at != std::string_view::npos && at + 7 < v.size()) {
            msie = true;
            if (v[at + 6] == '.')
                msie6 = v[at + 5] == '4' || v[at + 5] == '5' ||
                        (v[at + 5] == '6' && v.find("SV1", at + 8) == std::string_view::npos);
        }
        const bool opera = v.find("Opera") != std::string_view::npos;
        if (opera) msie = msie6 = false;
        const bool safari = !msie && !opera && v.find("Gecko/") == std::string_view::npos &&
                            v.find("Chrome/") == std::string_view::npos && v.find("Safari/") != std::string_view::npos &&
                            v.find("Mac OS X") != std::string_view::npos;
        if (msie6 && req.method == "POST" && (loc.keepalive_disable & (1u << 2))) return false;
        if (safari && (loc.keepalive_disable & (1u << 3))) return false;
    }
    return true;
}

// nginx's write filter for one answer: each write waits for limit_rate (after
// limit_rate_after bytes, the head counted as c->sent counts it), within send_timeout.
class ResponseWriter {
public:
    ResponseWriter(TransportStream& stream, const ir::Location& loc, std::uint64_t rate, std::uint64_t after,
                   std::time_t start_sec)
        : stream_(stream), loc_(loc), rate_(rate), after_(after), start_sec_(start_sec) {}

    std::uint64_t sent() const { return sent_; }

    Task<boost::system::error_code> write(std::string_view a, std::string_view b = {}) {
        while (!a.empty() || !b.empty()) {
            std::size_t allowed = a.size() + b.size();
            if (rate_ > 0) {
                if (const auto wait = delayed_until_ - std::chrono::steady_clock::now(); wait.count() > 0)
                    if (auto ec = co_await pause(std::chrono::duration_cast<std::chrono::milliseconds>(wait))) co_return ec;
                const auto elapsed = static_cast<std::int64_t>(std::time(nullptr) - start_sec_);
                const std::int64_t limit = static_cast<std::int64_t>(rate_) * (elapsed + 1) -
                                           (static_cast<std::int64_t>(sent_) - static_cast<std::int64_t>(after_));
                if (limit <= 0) {
                    if (auto ec = co_await pause(std::chrono::milliseconds(-limit * 1000 / static_cast<std::int64_t>(rate_) + 1)))
                        co_return ec;
                    continue;
                }
                allowed = std::min<std::size_t>(allowed, static_cast<std::size_t>(limit));
            }
            const std::string_view first = a.substr(0, allowed);
            const std::string_view second = b.substr(0, allowed - first.size());
            stream_.expires_after(loc_.send_timeout);
            const std::array<asio::const_buffer, 2> parts{asio::buffer(first.data(), first.size()),
                                                          asio::buffer(second.data(), second.size())};
            auto [ec, n] = co_await asio::async_write(stream_, parts, use_tuple);
            const std::uint64_t before = sent_;
            sent_ += n;
            if (ec) co_return ec;
            a.remove_prefix(first.size());
            b.remove_prefix(second.size());
            if (rate_ > 0) {
                const auto counted = [&](std::uint64_t v) { return v > after_ ? v - after_ : 0; };
                const auto delay = (counted(sent_) - counted(before)) * 1000 / rate_;
                delayed_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay);
            }
        }
        co_return boost::system::error_code{};
    }

private:
    Task<boost::system::error_code> pause(std::chrono::milliseconds ms) {
        stream_.timed().expires_never();  // a delayed write is no timed-out one (send_timeout restarts after)
        asio::steady_timer timer(stream_.get_executor(), ms);
        auto [ec] = co_await timer.async_wait(use_tuple);
        (void)ec;
        co_return boost::system::error_code{};
    }

    TransportStream& stream_;
    const ir::Location& loc_;
    std::uint64_t rate_, after_;
    std::time_t start_sec_;
    std::uint64_t sent_ = 0;
    std::chrono::steady_clock::time_point delayed_until_{};
};

// ngx_http_complex_value_size for limit_rate and limit_rate_after: a value that is no
// size is logged and counts as 0.
std::uint64_t request_size(const ir::ComplexSize& v, RequestContext& ctx, const ActiveConfig& cfg) {
    if (!v.value) return static_cast<std::uint64_t>(v.size);
    const std::string text = expand(*v.value, ctx);
    const auto size = ir::parse_size(text);
    if (!size) cfg.log_for(ctx).write(LogLevel::error, "invalid size \"" + text + "\"" + describe(ctx), ctx.connection.id);
    return size ? static_cast<std::uint64_t>(*size) : 0;
}

// Writes an answer: the head, then the body (memory and file parts; chunked when the
// answer is), then the last chunk with the trailers. Counts what went out in ctx.
Task<boost::system::error_code> send_response(TransportStream& stream, RequestContext& ctx, Response& resp,
                                               const ir::Location& loc, const std::string& head, bool with_body,
                                               const ActiveConfig& cfg) {
    const std::uint64_t rate = ctx.limit_rate ? *ctx.limit_rate : request_size(loc.limit_rate, ctx, cfg);
    ctx.limit_rate = rate;
    const std::uint64_t after = rate ? request_size(loc.limit_rate_after, ctx, cfg) : 0;
    ResponseWriter w(stream, loc, rate, after, std::chrono::system_clock::to_time_t(ctx.request.start));
    std::vector<BodyPart> parts = std::move(resp.parts);
    if (parts.empty()) {
        parts.push_back({std::move(resp.body), 0, -1});
        if (resp.file_fd >= 0) parts.push_back({{}, 0, static_cast<std::int64_t>(resp.content_length.value_or(0))});
    }
    if (!with_body) parts.clear();
    const auto chunk_size = [](std::size_t n) {
        char buf[32];
        const int len = std::snprintf(buf, sizeof buf, "%zx\r\n", n);
        return std::string(buf, static_cast<std::size_t>(len));
    };
    std::string pending = head;  // the head goes out with the first bytes of the body
    boost::system::error_code ec;
    std::vector<char> chunk;
    for (const BodyPart& part : parts) {
        if (part.length < 0) {
            if (part.bytes.empty()) continue;
            if (resp.chunked) pending += chunk_size(part.bytes.size());
            pending += part.bytes;
            if (resp.chunked) pending += "\r\n";
            continue;
        }
        chunk.resize(64 * 1024);
        std::int64_t offset = part.offset, left = part.length;
        while (left > 0) {
            const ssize_t n = ::pread(resp.file_fd, chunk.data(), static_cast<std::size_t>(std::min<std::int64_t>(left, 64 * 1024)), offset);
            if (n <= 0) break;
            offset += n;
            left -= n;
            const std::string_view data(chunk.data(), static_cast<std::size_t>(n));
            if (resp.chunked) pending += chunk_size(data.size());
            if ((ec = co_await w.write(pending, data))) break;
            pending = resp.chunked ? "\r\n" : "";
        }
        if (ec) break;
    }
    if (!ec) {
        if (resp.chunked) pending += "0\r\n" + trailer_block(loc, ctx, resp.status) + "\r\n";
        if (!pending.empty()) ec = co_await w.write(pending);
    }
    if (resp.file_fd >= 0) ::close(resp.file_fd);
    resp.file_fd = -1;
    ctx.bytes_sent = w.sent() + ctx.continue_bytes;
    ctx.body_bytes_sent = (w.sent() > head.size() ? w.sent() - head.size() : 0) + ctx.continue_bytes;
    co_return ec;
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
Task<const ir::Location*> post_action(Connection& c, RequestContext& ctx, const ir::Location* loc, int& uri_changes) {
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

// One request on a connection whose buffer holds its first bytes: its head read and
// checked, then routed, answered and logged. False: close the connection. Its frame lives
// only while the request does, so an idle connection costs little more than its socket.
Task<bool> serve_request(Connection& c, beast::flat_buffer& buffer, bool pipelined) {
    std::shared_ptr<const ActiveConfig>& cfg = c.cfg;
    ConnectionInfo& conn = c.conn;
    TransportStream& stream = c.stream;
    std::chrono::milliseconds& idle_timeout = c.idle_timeout;
    const std::uint64_t id = conn.id;
    const ServerSelector& selector = *c.selector;
    Request req;
    req.start = std::chrono::system_clock::now();
    RequestContext ctx(conn, req);
    // A body's temporary file goes with the request, unless client_body_in_file_only on keeps it.
    struct BodyFileCleanup {
        Request& req;
        const ir::Location*& loc;
        ~BodyFileCleanup() {
            if (!req.body_file.empty() && !(loc && loc->client_body_in_file_only == ir::Location::BodyInFile::on))
                ::unlink(req.body_file.c_str());
        }
    };
    Response resp;
    bool proxied = false;
    RequestHeadReader head(selector, req, pipelined);
    stream.expires_after(c.header_timeout);
    RequestHeadReader::Step step;
    boost::system::error_code rec;
    for (;;) {
        step = head.step(received_bytes(buffer));
        ctx.server = &head.server();
        if (step == RequestHeadReader::Step::ignored_header) {
            cfg->log_for(ctx).write(LogLevel::info, head.ignored_line() + describe(ctx), id);
            continue;
        }
        if (step != RequestHeadReader::Step::incomplete) break;
        // The reader refuses a head larger than nginx's header buffers hold.
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kLargeHeaderBuffer), use_tuple);
        buffer.commit(n);
        if (ec) {
            rec = ec;
            break;
        }
    }
    const ir::HttpServer* server = ctx.server;
    const ir::Location* loc = &server->root_location;
    const BodyFileCleanup body_file_cleanup{req, loc};
    if (rec) {
        if (rec != beast::error::timeout || buffer.size() == 0) co_return false;  // gone: nginx closes without an answer
        // client_header_timeout on a started request: nginx logs it as 408 and closes.
        if (req.request_line.empty()) {
            const std::string_view received = received_bytes(buffer);
            req.request_line = std::string(received.substr(0, received.find_first_of("\r\n")));
        }
        ctx.status = 408;
        cfg->log_for(ctx).write(LogLevel::info, std::string("client timed out (110: Connection timed out) while reading client request ") +
                                                    (head.reading_headers() ? "headers" : "line") + describe(ctx), id);
        cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
        co_return false;
    }
    RequestBody body(head);
    bool streamed = false;  // proxy_request_buffering off: the body goes upstream as it comes
    bool accel_headers = false;  // resp holds X-Accel-Redirect's headers for the redirect
    req.pipelined = pipelined;
    req.length = step == RequestHeadReader::Step::done ? head.size() : buffer.size();
    const bool refused = step == RequestHeadReader::Step::refused;
    int uri_changes = 11;  // NGX_HTTP_MAX_URI_CHANGES + 1
    if (refused && !head.reading_headers()) {
        cfg->log_for(ctx).write(LogLevel::info, head.refusal() + describe(ctx), id);
        set_error(resp, head.status(), loc->server_tokens);
        resp.close = true;  // refused before nginx decides on keep-alive
    } else {
        int refusal = 0;
        if (refused) {
            // Refused once the request line was in: its error, and error_page, come from
            // the server chosen so far, and the connection closes after.
            cfg->log_for(ctx).write(LogLevel::info, head.refusal() + describe(ctx), id);
            refusal = head.status();
            resp.close = true;
        } else {
        ++conn.requests;
        buffer.consume(head.size());
        server = &selector.select(req.host, &ctx.user_variables);
        ctx.server = server;
        // ngx_http_process_request's TLS checks, for the server the Host chose.
        if (c.plain_http) {
            cfg->log_for(ctx).write(LogLevel::info, "client sent plain HTTP request to HTTPS port while reading client request headers" + describe(ctx), id);
            refusal = 497;
        } else if (conn.ssl) {
            std::string why;
            refusal = refuse_client(conn.ssl, *server, req.host, why);
            if (refusal) cfg->log_for(ctx).write(LogLevel::info, why + " while reading client request headers" + describe(ctx), id);
        }
        apply_real_ip(server->root_location, ctx);  // nginx's post-read phase
        if (req.version == 11 && !refusal)
            if (const std::string* expect = req.header("Expect"); expect && iequal(*expect, "100-continue")) {
                // nginx answers it as soon as it would read or discard the body: always.
                static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
                stream.expires_after(server->root_location.send_timeout);
                auto [cec, cn] = co_await asio::async_write(stream, asio::buffer(kContinue), use_tuple);
                if (cec) co_return false;
                ctx.continue_bytes = cn;
            }
        }
        ctx.maps = &cfg->ir->http->maps;
        bool error_page_used = false;
        const ir::Location* named = nullptr;
        // Each round is one pass through nginx's phases; internal redirects (index,
        // try_files, error_page) start another.
        for (;;) {
            // A refused request gets its error (and error_page) at the server level.
            const Route route = refusal ? Route{ctx.location = &server->root_location, {}, std::exchange(refusal, 0), {}}
                                        : route_request(*server, ctx, head.content_length(), *cfg, uri_changes, named);
            named = nullptr;
            loc = route.location;
            for (const auto& [crit, e] : std::exchange(ctx.script_errors, {}))
                cfg->log_for(ctx).write(crit ? LogLevel::crit : LogLevel::error, e + describe(ctx), id);
            Redirect next;
            if (route.error) {
                if (!route.redirect.empty()) set_location(resp, route.redirect, ctx);
                set_error(resp, route.error, loc->server_tokens);
            } else if (route.script.next == ScriptResult::Next::respond) {
                answer_return(resp, route.script, *loc, ctx);
            } else if (const int denied = access_phase(*loc, ctx, *cfg, resp)) {
                // A 401 waits out auth_delay first. Statements, not a conditional expression:
                // GCC 12 miscompiles co_await in one.
                bool client_stayed = true;
                if (denied == 401) client_stayed = co_await delay_unauthorized(stream, *loc, ctx, *cfg);
                if (!client_stayed) {
                    ctx.status = 499;
                    cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
                    co_return false;
                }
                set_error(resp, denied, loc->server_tokens);
            } else if (loc->proxy && streamed) {  // read once: what is left goes on as it comes
            } else if (loc->proxy && body.done()) {  // nothing to read: a Content-Length of 0
                req.body_read = head.content_length().has_value();
            } else if (loc->proxy) {  // other handlers drop the body, below
                const bool stream_it = streams_body(*loc->proxy, head.chunked());
                // Statements, not a conditional expression: GCC 12 miscompiles co_await in one.
                BodyEnd end_of_body;
                if (stream_it) end_of_body = co_await read_ready_body(stream, buffer, body, *loc, ctx, *cfg);
                else end_of_body = co_await read_body(stream, buffer, body, *loc, ctx, *cfg, true);
                switch (end_of_body) {
                case BodyEnd::more:
                    // proxy_request_buffering off: the rest goes upstream as it comes.
                    streamed = true;
                    req.body_streamed = head.content_length() ? static_cast<std::int64_t>(*head.content_length()) : -1;
                    break;
                case BodyEnd::read:
                    req.body_read = true;
                    if (head.content_length() || head.chunked())
                        if (!write_body_file(*loc, ctx, head.chunked(), *cfg)) set_error(resp, 500, loc->server_tokens);
                    break;
                case BodyEnd::too_large: set_error(resp, 413, loc->server_tokens); break;
                case BodyEnd::invalid: set_error(resp, 400, loc->server_tokens); break;
                case BodyEnd::timed_out:
                case BodyEnd::closed: body_failed(end_of_body, ctx, *loc, *cfg); co_return false;
                }
            }
            if (resp.status == 200 && !resp.special && route.script.next != ScriptResult::Next::respond &&
                (!loc->try_files || try_files(*loc->try_files, resp, next, *loc, ctx, *cfg)) && !next.active) {
                if (loc->proxy) {
                    const bool client_keep_alive = keepalive_allowed(head, *loc, conn, req);
                    req.body_framed = head.content_length() || head.chunked();
                    StreamedBody rest(stream, buffer, body, *loc, ctx, *cfg);
                    ProxyResult pr = co_await proxy_http(stream, buffer, *loc, ctx, *cfg, client_keep_alive,
                                                         streamed && !body.done() ? &rest : nullptr);
                    if (pr.body_end == BodyEnd::timed_out || pr.body_end == BodyEnd::closed) {
                        body_failed(pr.body_end, ctx, *loc, *cfg);
                        co_return false;
                    }
                    if (pr.client_closed) {
                        ctx.status = 499;  // nginx's code for a client that left first
                        cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
                        co_return false;
                    }
                    if (pr.accel) {
                        // X-Accel-Redirect: its kept headers go with the answer; a URI nginx
                        // finds unsafe is a 404.
                        resp.content_type = std::move(pr.accel->content_type);
                        resp.headers = std::move(pr.accel->headers);
                        accel_headers = true;
                        if (pr.accel->target.starts_with("@")) {
                            next.active = true;
                            next.uri = pr.accel->target;
                            next.named = find_named(server->locations, next.uri);
                        } else if (auto target = safe_redirect(*pr.accel, ctx, *cfg)) {
                            next = std::move(*target);
                            if (req.method != "HEAD") req.method = "GET";
                        } else {
                            set_error(resp, 404, loc->server_tokens);
                        }
                    } else if (pr.error_status == 0) {
                        // Answered by the upstream: log it and go on, or close.
                        ctx.bytes_sent = pr.sent.total + ctx.continue_bytes;
                        ctx.body_bytes_sent = pr.sent.body + ctx.continue_bytes;
                        loc = co_await post_action(c, ctx, loc, uri_changes);
                        cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
                        // A body still coming keeps the connection from another request
                        // (nginx's r->reading_body).
                        if (!pr.keep_alive || !body.done()) {
                            co_await finish_writing(stream, loc->send_timeout);
                            co_return false;
                        }
                        proxied = true;
                        break;
                    } else {
                        set_error(resp, pr.error_status, loc->server_tokens);
                    }
                } else {
                    serve_static(resp, next, *loc, ctx, *cfg);
                }
            }
            // error_page: once per request unless recursive_error_pages.
            if (resp.special && !error_page_used && !next.active) {
                for (const auto& page : loc->error_pages) {
                    if (page.status != resp.status) continue;
                    error_page_used = !loc->recursive_error_pages;
                    const std::string target = expand(page.uri, ctx);
                    if (target.starts_with("/") || target.starts_with("@")) {
                        ctx.status_override = page.overwrite >= 0 ? page.overwrite : resp.status;
                        if (req.method != "HEAD") req.method = "GET";
                        if (target.starts_with("@")) {
                            next.active = true;
                            next.uri = target;
                            next.named = find_named(server->locations, target);
                        } else {
                            next = redirect_to(target);
                        }
                    } else {
                        // A URL: a redirect, 302 unless the page says 301/303/307/308.
                        const int code = page.overwrite == 301 || page.overwrite == 303 || page.overwrite == 307 ||
                                                 page.overwrite == 308 ? page.overwrite : 302;
                        const bool close = resp.close;
                        resp = Response{};
                        resp.headers.emplace_back("Location", target);
                        set_error(resp, code, loc->server_tokens);
                        resp.close = close;
                    }
                    break;
                }
            }
            if (!next.active) break;
            if (next.uri.starts_with("@") && !next.named) {
                cfg->log_for(ctx).write(LogLevel::error, "could not find named location \"" + next.uri + "\"" + describe(ctx), id);
                resp = Response{};
                set_error(resp, 500, loc->server_tokens);
                break;
            }
            // An internal redirect keeps the answer's Location (nginx's headers_out.location),
            // and X-Accel-Redirect's headers.
            Response kept;
            kept.close = resp.close;
            kept.location = std::move(resp.location);
            if (std::exchange(accel_headers, false)) {
                kept.content_type = std::move(resp.content_type);
                kept.headers = std::move(resp.headers);
            } else {
                for (auto& h : resp.headers)
                    if (iequal(h.first, "Location") || h.first == "WWW-Authenticate") kept.headers.push_back(std::move(h));
            }
            resp = std::move(kept);
            if (!follow(next, ctx, uri_changes, *cfg)) {
                set_error(resp, 500, loc->server_tokens);
                break;
            }
            named = next.named;
        }
        if (proxied) {
            idle_timeout = loc->keepalive_timeout;
            co_return true;
        }
        // error_page's status for the page it led to (a bare "=" keeps the page's own).
        if (ctx.status_override && !resp.special && resp.status != ctx.status_override) {
            resp.status = ctx.status_override;
            // nginx sends Last-Modified only with 200/206/304, Accept-Ranges only with 200.
            if (resp.status != 206 && resp.status != 304) resp.last_modified.reset();
            if (resp.status != 200) resp.accept_ranges = false;
        }
    }
    if (resp.status >= 494 && resp.status <= 497) resp.status = 400;  // sent and logged as 400
    if (resp.status == 204) {  // ngx_http_header_filter: no body, no type, no length
        resp.content_type.clear();
        resp.content_length.reset();
        resp.last_modified.reset();
        resp.body.clear();
    }
    ctx.status = resp.status;
    if (resp.close && resp.status == 444) {
        cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
        co_return false;
    }
    // A streamed body cut short closes the connection after the answer (nginx's
    // r->reading_body); one nobody read is dropped before the answer: what has come of
    // it is checked now.
    if (streamed && !body.done()) resp.close = true;
    else if (!refused && !body.done() && take_buffered(buffer, body, *loc, ctx, *cfg, nullptr) == RequestBody::Status::invalid) {
        if (resp.special) {
            resp.close = true;  // the error page goes out, then the connection closes
        } else {
            if (resp.file_fd >= 0) ::close(resp.file_fd);
            resp = Response{};
            set_error(resp, 400, loc->server_tokens);
        }
    }
    const std::time_t now = std::time(nullptr);  // one clock reading for Date and Expires, as nginx
    // nginx's header filters in their order: not modified, headers (add_header, expires), range.
    not_modified_filter(resp, *loc, ctx);
    add_location_headers(resp, *loc, ctx, now);
    range_filter(resp, *loc, ctx);
    ctx.status = resp.status;
    const bool head_only = req.method == "HEAD";
    // The chunked filter: an answer of unknown length, or one trailers follow (add_trailer
    // with a status it applies to), goes chunked to an HTTP/1.1 client.
    if (resp.status >= 200 && resp.status != 204 && resp.status != 304 && !head_only && req.version >= 11) {
        const bool trailers = expects_trailers(*loc, resp.status);
        if ((!resp.content_length || trailers) && loc->chunked_transfer_encoding) resp.chunked = true;
        else if (!resp.content_length) resp.close = true;
    }
    const bool keep_alive = !resp.close && keepalive_allowed(head, *loc, conn, req);
    ctx.response_headers = sent_headers(resp);
    // An HTTP/0.9 answer is the body alone.
    const std::string response_head = req.version == 9 ? std::string() : serialize_head(resp, keep_alive, *loc, now);
    const boost::system::error_code wec = co_await send_response(stream, ctx, resp, *loc, response_head, !head_only, *cfg);
    if (!wec && !refused) loc = co_await post_action(c, ctx, loc, uri_changes);
    cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
    if (wec || resp.drop_after) co_return false;
    // A body nobody read is read and dropped (nginx's discarded body): the next request follows it.
    if (keep_alive && !body.done() && co_await read_body(stream, buffer, body, *loc, ctx, *cfg, false) != BodyEnd::read)
        co_return false;
    if (!keep_alive) {
        co_await finish_writing(stream, loc->send_timeout);
        co_return false;
    }
    idle_timeout = loc->keepalive_timeout;
    co_return true;
}

void await_request(std::unique_ptr<Connection> c);

// Plain operator new: Asio recycles handler memory for std::allocator, not for this.
template <class T>
struct ExactAllocator {
    using value_type = T;
    ExactAllocator() = default;
    template <class U>
    ExactAllocator(const ExactAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
    template <class U>
    bool operator==(const ExactAllocator<U>&) const noexcept { return true; }
};

// nginx's lines for a connection closed where a pipelined request line was expected: the
// info line and an access-log line for an empty request answered 400.
void log_pipelined_close(const Connection& c) {
    Request req;
    RequestContext ctx(c.conn, req);
    ctx.server = &c.selector->default_server();
    ctx.status = 400;
    c.cfg->log_for(ctx).write(LogLevel::info,
                              "client prematurely closed connection while reading client pipelined request line" + describe(ctx),
                              c.conn.id);
    c.cfg->access_logs->write(ctx.server->root_location.access_logs, c.cfg->ir->http->log_formats, ctx);
}

// A connection's busy spell: requests, pipelined or not, until none is waiting in the
// buffer; then it waits idle without this frame and without a buffer (nginx frees its
// buffer too). `readable`: the socket has bytes (or TLS may have a record) to read now.
Task<void> serve_connection(std::unique_ptr<Connection> c, bool readable) {
    TransportStream& stream = c->stream;
    beast::flat_buffer buffer;
    bool pipelined = false;  // the next request was in the buffer behind the last one
    for (;;) {
        // nginx ignores empty lines before a request line (after a body, say).
        while (buffer.size() > 0) {
            const char ch = *static_cast<const char*>(buffer.data().data());
            if (ch != '\r' && ch != '\n') break;
            buffer.consume(1);
        }
        if (buffer.size() == 0 && pipelined) {
            // Only empty lines followed the last request: nginx reads on for its next
            // request line rather than waiting idle, and a close is a request cut short.
            stream.expires_after(c->header_timeout);
            auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kHeaderBuffer), use_tuple);
            buffer.commit(n);
            if (ec == asio::error::eof) log_pipelined_close(*c);
            if (ec) co_return;
            continue;
        }
        if (buffer.size() == 0) {
            if (c->worker.stopping && c->conn.requests > 0) co_return;
            // Nothing known to be there: the connection waits idle, without this frame
            // (the wait's first try sees a next request a busy client has sent already).
            if (!readable && !stream.tls_buffered()) break;
            readable = false;
            if (stream.tls_handle()) {
                // A TLS record may arrive in pieces: its read waits for the rest.
                auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kHeaderBuffer), use_tuple);
                if (ec) co_return;  // closed by the client, or the wait's deadline passed
                buffer.commit(n);
                continue;
            }
            boost::system::error_code ec;
            const std::size_t n = stream.socket().read_some(buffer.prepare(kHeaderBuffer), ec);
            if (ec == asio::error::would_block) break;
            if (ec) co_return;  // closed by the client: nothing to answer
            buffer.commit(n);
            continue;
        }
        readable = false;
        if (!co_await serve_request(*c, buffer, pipelined)) co_return;
        pipelined = buffer.size() > 0;
    }
    await_request(std::move(c));
}

// Between requests a connection holds no coroutine and no buffer: the wait's handler owns
// it, and the timeout closes it, or QUIT once a request was served (a new connection is
// not idle in nginx's sense: its first request is served, even after QUIT). Both kinds
// may make room at worker_connections.
void await_request(std::unique_ptr<Connection> c) {
    TimedStream& stream = c->stream.timed();
    const bool kept_alive = c->conn.requests > 0;
    (kept_alive ? c->worker.idle : c->worker.fresh).push_back(stream);
    stream.expires_after(c->idle_timeout);
    // Sized to the wait itself: Asio's recycled blocks would hand it a larger one, kept
    // for as long as the connection idles.
    const asio::mutable_buffer first = asio::buffer(&c->peeked, 1);  // before `c` moves into the handler
    stream.async_peek(first, asio::bind_allocator(ExactAllocator<void>(), [c = std::move(c), kept_alive](const boost::system::error_code& ec, std::size_t) mutable {
        c->stream.timed().unlist();
        if (ec || (kept_alive && c->worker.stopping)) return;  // closed by the client, the timeout or QUIT
        const auto ex = c->stream.get_executor();
        asio::co_spawn(ex, serve_connection(std::move(c), true), asio::detached);
    }));
}

// A connection to a `listen ... ssl` address (ngx_http_ssl_handshake): its first byte
// tells a TLS handshake from plain HTTP, which is read and answered 400; the handshake
// and the first request share the default server's client_header_timeout.
Task<void> start_tls_connection(std::unique_ptr<Connection> c) {
    TransportStream& stream = c->stream;
    const auto started = std::chrono::steady_clock::now();
    stream.expires_after(c->header_timeout);
    auto [pec, n] = co_await stream.timed().async_peek(asio::buffer(&c->peeked, 1), use_tuple);
    if (pec || n == 0) co_return;  // closed before a byte came
    if (!starts_tls(static_cast<unsigned char>(c->peeked))) {
        c->plain_http = true;
        co_await serve_connection(std::move(c), true);
        co_return;
    }
    SSL* ssl = new_server_ssl(*c->selector, c->conn, *c->cfg->ir->http);
    // The address's default server's error_log, as nginx's connection log before a request.
    const ErrorLog& log = c->cfg->log(c->selector->default_server().root_location.error_log);
    if (!ssl) {
        log.write(LogLevel::alert, "SSL_new() failed", c->conn.id);
        co_return;
    }
    stream.start_tls(ssl);
    auto [hec] = co_await stream.async_handshake(TransportStream::TlsRole::server, use_tuple);
    if (hec) {
        const std::string context = handshake_log_tail(c->conn);
        if (const std::string error = certificate_error(ssl); !error.empty())
            log.write(LogLevel::error, error + context, c->conn.id);
        // nginx logs most handshake failures at info (ngx_ssl_connection_error).
        log.write(LogLevel::info, ssl_call_error("SSL_do_handshake()", hec) + context, c->conn.id);
        co_return;
    }
    if (wants_client_ocsp(ssl)) {
        // ngx_ssl_ocsp_validate: the client's certificates are checked before its request
        // is read, within the handshake's time (client_header_timeout).
        OcspClientEnv env{stream.get_executor(), &c->worker.timers, c->cfg.get(), &log, c->conn.id, handshake_log_tail(c->conn)};
        const OcspValidation v = co_await validate_client_ocsp(ssl, std::move(env), started + c->header_timeout);
        if (v == OcspValidation::timed_out)
            log.write(LogLevel::info, "client timed out (110: Connection timed out)" + handshake_log_tail(c->conn), c->conn.id);
        if (v != OcspValidation::done) co_return;
    }
    c->conn.ssl = ssl;
    co_await serve_connection(std::move(c), true);
}

// A connection to a `listen ... proxy_protocol` address (ngx_http_wait_request_handler,
// ngx_http_ssl_handshake): the header must be whole in the first bytes that come. They
// are peeked, the header is taken from the socket, and the connection goes on as any.
Task<void> start_proxy_protocol_connection(std::unique_ptr<Connection> c) {
    TransportStream& stream = c->stream;
    stream.expires_after(c->header_timeout);
    std::array<char, kHeaderBuffer> bytes;
    auto [pec, n] = co_await stream.timed().async_peek(asio::buffer(bytes), use_tuple);
    if (pec || n == 0) co_return;  // closed before a byte came, or the timeout
    ProxyProtocolRead pp = read_proxy_protocol({bytes.data(), n});
    if (pp.length == 0) {
        if (!pp.error.empty())
            c->cfg->log(c->selector->default_server().root_location.error_log)
                .write(LogLevel::error,
                       pp.error + " while reading PROXY protocol, client: " + c->conn.remote_addr + ", server: " +
                           c->conn.server_text(),
                       c->conn.id);
        co_return;
    }
    boost::system::error_code ec;
    asio::read(stream.socket(), asio::buffer(bytes.data(), pp.length), ec);  // received already
    if (ec) co_return;
    if (pp.header) c->conn.proxy_protocol = std::make_shared<const ProxyProtocol>(std::move(*pp.header));
    if (c->selector->tls)
        co_await start_tls_connection(std::move(c));
    else if (n > pp.length)
        co_await serve_connection(std::move(c), true);
    else
        await_request(std::move(c));
}

}  // namespace

void serve_http(WorkerSocket socket, WorkerState& worker, ConnectionInfo conn, const ServerSelector& selector) {
    auto c = std::make_unique<Connection>(worker, worker.config, std::move(conn), selector, std::move(socket));
    if (selector.proxy_protocol) {
        const auto ex = c->stream.get_executor();
        asio::co_spawn(ex, start_proxy_protocol_connection(std::move(c)), asio::detached);
    } else if (selector.tls) {
        const auto ex = c->stream.get_executor();
        asio::co_spawn(ex, start_tls_connection(std::move(c)), asio::detached);
    } else
        await_request(std::move(c));
}

}  // namespace ngxlite::runtime
