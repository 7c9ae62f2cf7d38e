#include "runtime/http/proxy/proxy.hpp"

#include "runtime/http/header_arena.hpp"
#include "runtime/http/response.hpp"
#include "runtime/core/net.hpp"
#include "runtime/http/proxy/proxy_answer.hpp"
#include "runtime/http/proxy/proxy_request.hpp"
#include "runtime/http/proxy/proxy_response.hpp"
#include "runtime/upstream/resolver.hpp"
#include "runtime/core/text.hpp"
#include "runtime/io/transport_stream.hpp"
#include "runtime/upstream/connector.hpp"
#include "runtime/upstream/upstream.hpp"
#include "runtime/http/proxy/upstream_response.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <variant>

namespace ngxlite::runtime {

namespace {

void log_error(const ActiveConfig& cfg, const RequestContext& ctx, const std::string& what, const std::string& upstream) {
    cfg.log_for(ctx).write(LogLevel::error, what + describe(ctx, upstream), ctx.connection.id);
}

void append(std::string& list, std::string_view item) {
    if (!list.empty()) list += ", ";
    list += item;
}

std::string seconds_since(std::chrono::steady_clock::time_point t) {
    return seconds_text(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count());
}

// proxy_next_upstream http_*: the statuses that may send the request to the next server.
std::uint32_t next_upstream_mask(int status) {
    switch (status) {
    case 500: return ir::kNextHttp500;
    case 502: return ir::kNextHttp502;
    case 503: return ir::kNextHttp503;
    case 504: return ir::kNextHttp504;
    case 403: return ir::kNextHttp403;
    case 404: return ir::kNextHttp404;
    case 429: return ir::kNextHttp429;
    default: return 0;
    }
}

// Watches the client from the upstream connect to the response header (nginx's
// ngx_http_upstream_check_broken_connection): after a moment (most upstreams answer
// sooner, and then the watch cost one timer-tree node), a client that has closed its side
// cancels the upstream operation; pipelined bytes are no sign of that and end the watch.
class ClientWatch : private Timeout {
public:
    ClientWatch(TimedStream& client, WorkerSocket& upstream)
        : Timeout(client.timers()), client_(client.socket()), upstream_(upstream) {
        arm(std::chrono::milliseconds(200));
    }
    ~ClientWatch() {
        if (!state_) return;
        state_->done = true;  // a late handler sees it before touching the sockets
        if (state_->waiting) {
            boost::system::error_code ec;
            client_.cancel(ec);
        }
    }
    ClientWatch(const ClientWatch&) = delete;
    ClientWatch& operator=(const ClientWatch&) = delete;
    bool client_closed() const { return state_ && state_->closed; }

private:
    // Shared with the pending wait, which may complete after the watch has gone.
    struct State {
        WorkerSocket& client;
        WorkerSocket& upstream;
        bool done = false, closed = false, waiting = false;

        static void arm(const std::shared_ptr<State>& s) {
            s->waiting = true;
            s->client.async_wait(tcp::socket::wait_read, [s](const boost::system::error_code& ec) {
                s->waiting = false;
                if (ec || s->done) return;
                char byte;
                const ssize_t n = ::recv(s->client.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                    s->closed = true;
                    boost::system::error_code ignored;
                    s->upstream.cancel(ignored);
                } else if (n < 0) {
                    arm(s);
                }
            });
        }
    };
    void expired() override {
        state_ = std::make_shared<State>(State{client_, upstream_});
        State::arm(state_);
    }
    WorkerSocket& client_;
    WorkerSocket& upstream_;
    std::shared_ptr<State> state_;
};

void lower_prefix(std::string& s, std::size_t n) {
    for (std::size_t i = 0; i < n && i < s.size(); ++i) s[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
}

}  // namespace

Task<void> client_closes(TransportStream& client) {
    WorkerSocket& socket = client.socket();
    for (;;) {
        auto [ec] = co_await socket.async_wait(tcp::socket::wait_read, use_tuple);
        if (ec == asio::error::operation_aborted) co_return;
        if (ec) co_return;
        char byte;
        const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) co_return;
        if (n > 0) break;
    }
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>, WorkerExecutor> never(
        socket.get_executor(), std::chrono::steady_clock::time_point::max());
    co_await never.async_wait(use_tuple);
}

namespace {

// Where the request goes: proxy_pass's group, or with variables the evaluated URL's (a
// name resolved first, as ngx_http_upstream_resolve_handler). Without a state the request
// ends as `result` says: an error status, or the client gone.
struct ProxyTarget {
    std::shared_ptr<UpstreamState> state;
    std::string uri;
    bool https = false;
    std::size_t lowercase_host = 0;  // a resolved name's length at the start of $proxy_host
};

// `literal`: the request's own group (an address, or a name's addresses), which the state balances over.
Task<ProxyTarget> proxy_target(TransportStream& client, const ir::Location& loc, RequestContext& ctx, const ActiveConfig& cfg,
                               std::optional<ir::UpstreamGroup>& literal, ProxyResult& result) {
    const ir::ProxySettings& p = *loc.proxy;
    const ir::HttpConfig& http_cfg = *cfg.ir->http;
    TimerTree& timers = client.timed().timers();
    if (!p.pass_has_variables) {
        ctx.proxy_host = p.proxy_host;
        ctx.proxy_port = p.proxy_port;
        co_return ProxyTarget{upstream_state(http_cfg.upstreams, static_cast<std::size_t>(p.upstream_index), timers),
                              upstream_uri(p, loc, ctx.request), p.scheme == "https"};
    }
    auto target = resolve_variable_pass(p, ctx, http_cfg, cfg);
    ProxyTarget out{nullptr, {}, target.https};
    if (!target.group && !target.resolve.empty()) {
        // ngx_http_upstream_resolve_handler: the name's addresses become this request's
        // round-robin peers (weight 1, max_fails 1, fail_timeout 10s), named by the host.
        // nginx lowercases the name where it lies, in the evaluated URL: $proxy_host
        // (and the TLS name) read it so after the request to send was made with it.
        out.lowercase_host = target.resolve.size();
        Resolver& resolver = worker_resolver(*cfg.ir, p.resolver, client.get_executor(), timers, cfg.error_log);
        using namespace asio::experimental::awaitable_operators;
        // proxy_ignore_client_abort: nginx installs no check of the client at all.
        std::variant<ResolveResult, std::monostate> outcome;
        if (p.ignore_client_abort)
            outcome = co_await resolver.async_resolve(target.resolve, p.resolver_timeout, asio::use_awaitable_t<WorkerExecutor>{});
        else
            outcome = co_await (resolver.async_resolve(target.resolve, p.resolver_timeout, asio::use_awaitable_t<WorkerExecutor>{}) ||
                                client_closes(client));
        if (outcome.index() == 1) {  // ngx_http_upstream_check_broken_connection, no upstream yet
            cfg.log_for(ctx).write(LogLevel::info, "epoll_wait() reported that client prematurely closed connection" + describe(ctx),
                                   ctx.connection.id);
            lower_prefix(ctx.proxy_host, out.lowercase_host);
            result.client_closed = true;
            co_return out;
        }
        const ResolveResult resolved = std::get<0>(std::move(outcome));
        if (resolved.state) {
            lower_prefix(ctx.proxy_host, out.lowercase_host);
            log_error(cfg, ctx,
                      resolver_name(target.resolve) + " could not be resolved (" + std::to_string(resolved.state) + ": " +
                          resolver_strerror(resolved.state) + ")",
                      "");
            result.error_status = 502;
            co_return out;
        }
        target.literal = resolved_group(target.resolve, target.port, resolved.addrs);
        target.group = &*target.literal;
    }
    if (!target.group) {
        result.error_status = target.error;
        co_return out;
    }
    literal = std::move(target.literal);  // target.group pointed into it: not read again then
    out.state = literal ? std::make_shared<UpstreamState>(*literal, timers)
                        : upstream_state(http_cfg.upstreams, static_cast<std::size_t>(target.group - http_cfg.upstreams.data()), timers);
    out.uri = target.uri.empty() ? upstream_uri(p, loc, ctx.request) : target.uri;
    co_return out;
}

}  // namespace

Task<ProxyResult> proxy_http(TransportStream& client, beast::flat_buffer& client_buffer, const ir::Location& loc, RequestContext& ctx,
                             const ActiveConfig& cfg, bool client_keep_alive, StreamedBody* streamed) {
    using clock = std::chrono::steady_clock;
    ProxyResult result;
    const ir::ProxySettings& p = *loc.proxy;
    ctx.proxying = true;
    std::optional<ir::UpstreamGroup> literal;  // proxy_pass with variables to an address or a name
    const ProxyTarget target = co_await proxy_target(client, loc, ctx, cfg, literal, result);
    if (!target.state) co_return result;
    const std::shared_ptr<UpstreamState>& state = target.state;
    const std::string& uri = target.uri;
    const bool https = target.https;
    const ir::UpstreamGroup& group = state->group;
    PeerSelection selection(state, balancer_key(group, ctx));
    selection.limit_tries(p.next_upstream_tries);
    const std::string request = build_request(p, uri, ctx);
    lower_prefix(ctx.proxy_host, target.lowercase_host);
    // How every attempt connects: proxy_bind, as ngx_http_upstream_set_local finds it once
    // per request, and TLS with the name from $proxy_host as lowercased above.
    ConnectSettings connect{.local = local_address(p.bind, ctx), .timeout = p.connect_timeout, .socket_keepalive = p.socket_keepalive};
    if (connect.local.invalid()) log_error(cfg, ctx, "invalid local address \"" + connect.local.name + "\"", "");
    if (https) connect.tls = upstream_tls(p.ssl, ctx, ctx.proxy_host);
    const std::string& method = ctx.request.method;
    const bool non_idempotent = method == "POST" || method == "LOCK" || method == "PATCH";
    const auto started = clock::now();
    const std::string_view scheme = https ? "https://" : "http://";
    IdleConnections* const idle = state->idle.get();

    for (;;) {
        Peer* peer = selection.next();
        if (!peer) {
            log_error(cfg, ctx, "no live upstreams while connecting to upstream", std::string(scheme) + group.name + uri);
            append(ctx.upstream_addr, group.name);
            append(ctx.upstream_status, "502");
            result.error_status = 502;
            co_return result;
        }
        const ir::Endpoint& endpoint = *peer->endpoint;
        // nginx's log handler puts a ':' between a unix socket's path and the URI.
        const std::string peer_url = std::string(scheme) + endpoint.text() + (endpoint.unix_socket ? ":" : "") + uri;
        append(ctx.upstream_addr, endpoint.text());
        // The attempt's bytes, in their lists however it ends (nginx's u->state).
        struct Counts {
            RequestContext& c;
            std::uint64_t sent = 0, received = 0, length = 0;
            ~Counts() {
                append(c.upstream_bytes_sent, std::to_string(sent));
                append(c.upstream_bytes_received, std::to_string(received));
                append(c.upstream_response_length, std::to_string(length));
            }
        } counts{ctx};
        const auto attempt_start = clock::now();
        std::string_view phase = "connecting to upstream";
        bool request_sent = false;

        // nginx's ngx_http_upstream_next: count the failure, then retry or answer `status`.
        bool cached = false;
        auto next = [&](std::uint32_t type, int status) {
            append(ctx.upstream_status, std::to_string(status));
            append(ctx.upstream_response_time, seconds_since(attempt_start));
            const bool counts = type != ir::kNextHttp403 && type != ir::kNextHttp404;
            selection.finish(counts, [&] {
                cfg.log_for(ctx).write(LogLevel::warn,
                                    "upstream server temporarily disabled while " + std::string(phase) + describe(ctx, peer_url),
                                    ctx.connection.id);
            });
            if (cached && type == ir::kNextError) selection.retry_cached();
            if (request_sent && non_idempotent) type |= ir::kNextNonIdempotent;
            const bool timed_out = p.next_upstream_timeout.count() > 0 && clock::now() - started >= p.next_upstream_timeout;
            result.error_status = type == ir::kNextTimeout || type == ir::kNextHttp504 ? 504
                                  : type == ir::kNextHttp500                            ? 500
                                  : type == ir::kNextHttp503                            ? 503
                                  : type == ir::kNextHttp403                            ? 403
                                  : type == ir::kNextHttp404                            ? 404
                                  : type == ir::kNextHttp429                            ? 429
                                                                                        : 502;
            // true: try the next; never once a streamed body began to go
            return selection.tries() > 0 && (p.next_upstream & type) == type && !timed_out && !(request_sent && streamed);
        };
        // nginx logs a timeout from ngx_http_upstream_next, after the balancer's warning;
        // other errors as they happen.
        auto log_failure = [&](LogLevel level, const std::string& error) {
            cfg.log_for(ctx).write(level, error + " while " + std::string(phase) + describe(ctx, peer_url), ctx.connection.id);
        };
        auto failed_with = [&](const std::string& error, bool timeout, LogLevel level) {
            if (!timeout) log_failure(level, error);
            const bool retry = next(timeout ? ir::kNextTimeout : ir::kNextError, timeout ? 504 : 502);
            if (timeout) log_failure(level, error);
            return retry;
        };
        auto failed = [&](const boost::system::error_code& ec, std::string_view what) {
            const bool timeout = ec == beast::error::timeout;
            return failed_with(timeout                       ? std::string("upstream timed out (110: Connection timed out)")
                               : ec == asio::error::eof ? std::string("upstream prematurely closed connection")
                                                         : std::string(what) + " failed (" + std::to_string(ec.value()) + ": " +
                                                               ec.message() + ")",
                               timeout, LogLevel::error);
        };

        // What a kept connection must have been made with to serve this attempt.
        IdleConnections::Key key{endpoint, https ? p.ssl.context.get() : nullptr, connect.tls.name, connect.tls.certificate};
        std::unique_ptr<TransportStream> upstream;
        int connection_requests = 0;
        auto connection_opened = std::chrono::steady_clock::now();
        if (idle)
            if (auto kept = idle->take(key)) {
                upstream = std::move(kept->stream);
                connection_requests = kept->requests;
                connection_opened = kept->opened;
                cached = true;
            }
        if (!cached) upstream = std::make_unique<TransportStream>(WorkerSocket(client.get_executor()), client.timed().timers());
        // From here until the response header, a client that goes away ends the exchange
        // (nginx's ngx_http_upstream_check_broken_connection: 499, the upstream closed).
        // Not with proxy_ignore_client_abort: the exchange goes on, its answer written to whatever is left.
        std::optional<ClientWatch> watch;
        if (!p.ignore_client_abort) watch.emplace(client.timed(), upstream->socket());
        auto client_left = [&] {
            if (!watch || !watch->client_closed()) return false;
            cfg.log_for(ctx).write(LogLevel::info,
                                "epoll_wait() reported that client prematurely closed connection, so upstream connection is "
                                "closed too while " + std::string(phase) + describe(ctx, peer_url),
                                ctx.connection.id);
            append(ctx.upstream_status, "-");
            append(ctx.upstream_header_time, "-");
            append(ctx.upstream_response_time, seconds_since(attempt_start));
            selection.finish(false, [] {});
            result.client_closed = true;
            return true;
        };
        if (!cached) {
            const ConnectResult connected = co_await connect_peer(*upstream, *peer, connect);
            if (!connected.connected()) {
                phase = connected.action();
                if (connected.ec && client_left()) co_return result;
                if (connected.failed != ConnectStep::bind) {
                    append(ctx.upstream_connect_time, "-");
                    append(ctx.upstream_header_time, "-");
                }
                if (connected.failed == ConnectStep::bind || connected.failed == ConnectStep::certificate) {
                    // nginx answers 500 and tries no other server
                    log_failure(connected.level, connected.error);
                    selection.finish(false, [] {});
                    result.error_status = 500;
                    co_return result;
                }
                if (failed_with(connected.error, connected.timed_out(), connected.level)) continue;
                co_return result;
            }
        }
        append(ctx.upstream_connect_time, seconds_since(attempt_start));

        phase = "sending request to upstream";
        upstream->expires_after(p.send_timeout);
        auto [wec, wn] = co_await asio::async_write(*upstream, asio::buffer(request), use_tuple);
        if (wec && client_left()) co_return result;
        if (wec) {
            append(ctx.upstream_header_time, "-");
            if (failed(wec, "writev()")) continue;
            co_return result;
        }
        request_sent = true;
        counts.sent = wn;
        if (streamed) {
            watch.reset();  // the body's reads see a client that goes
            const StreamedSend sent = co_await send_streamed_body(*upstream, *streamed, *ctx.request.body_streamed < 0, p.send_timeout);
            if (sent.write_error) {
                append(ctx.upstream_header_time, "-");
                failed(sent.write_error, "writev()");
                co_return result;
            }
            if (sent.body != BodyEnd::read) {  // nginx's upstream finalized with the body's status
                append(ctx.upstream_status, "-");
                append(ctx.upstream_header_time, "-");
                append(ctx.upstream_response_time, seconds_since(attempt_start));
                selection.finish(false, [] {});
                result.body_end = sent.body;
                result.error_status = sent.body == BodyEnd::too_large ? 413 : 400;
                co_return result;
            }
            if (!p.ignore_client_abort) watch.emplace(client.timed(), upstream->socket());
        }

        phase = "reading response header from upstream";
        BodyBuffer buffer(static_cast<std::size_t>(p.buffer_size));
        HeaderArena<1024> fields_memory;
        UpstreamHead head(static_cast<std::size_t>(p.buffer_size), fields_memory.allocator());
        const HeadRead read = co_await read_head(*upstream, buffer, head, p.read_timeout);
        counts.received = read.received;
        counts.length = read.received - std::min(read.received, head.size());
        if (client_left()) co_return result;
        watch.reset();
        ctx.upstream_headers = upstream_header_block(head);  // what came, even of a refused head
        if (read.error) {
            append(ctx.upstream_header_time, "-");
            if (failed(read.error, "recv()")) continue;
            co_return result;
        }
        if (read.step == UpstreamHead::Step::invalid || read.step == UpstreamHead::Step::too_big) {
            append(ctx.upstream_header_time, "-");
            const std::string what = read.step == UpstreamHead::Step::invalid ? head.error() : "upstream sent too big header";
            log_error(cfg, ctx, what + " while " + std::string(phase), peer_url);
            if (next(ir::kNextInvalidHeader, 502)) continue;
            co_return result;
        }
        if (read.step == UpstreamHead::Step::http09)  // nginx goes on with it as a 200's body
            log_error(cfg, ctx, "upstream sent no valid HTTP/1.0 header while " + std::string(phase), peer_url);
        append(ctx.upstream_header_time, seconds_since(attempt_start));
        if (p.accel_limit_rate)  // taken as the header is, whatever follows
            if (const auto rate = accel_limit_rate(head)) ctx.limit_rate = rate;
        const int status = read.step == UpstreamHead::Step::http09 ? 200 : head.status();
        if (const std::uint32_t mask = next_upstream_mask(status); mask && selection.tries() > 1 && !streamed) {
            const std::uint32_t need = request_sent && non_idempotent ? mask | ir::kNextNonIdempotent : mask;
            const bool timed_out = p.next_upstream_timeout.count() > 0 && clock::now() - started >= p.next_upstream_timeout;
            if ((p.next_upstream & need) == need && !timed_out && next(mask, status)) continue;
        }
        if (p.intercept_errors && status >= 300 &&
            std::any_of(loc.error_pages.begin(), loc.error_pages.end(), [&](const ir::ErrorPage& e) { return e.status == status; })) {
            // proxy_intercept_errors: the location's error_page answers instead.
            append(ctx.upstream_status, std::to_string(status));
            append(ctx.upstream_response_time, seconds_since(attempt_start));
            selection.finish(false, [] {});
            result.error_status = status;
            co_return result;
        }
        result.error_status = 0;
        append(ctx.upstream_status, std::to_string(status));
        if (const auto target = p.accel_redirect ? head.find("X-Accel-Redirect") : std::nullopt) {
            // The upstream is done with (its connection closed); the caller redirects.
            append(ctx.upstream_response_time, seconds_since(attempt_start));
            selection.finish(false, [] {});
            result.accel = accel_redirect(*target, head, peer_url);
            co_return result;
        }
        // Reached through error_page: its status answers, with nginx's text for it.
        ctx.status = ctx.status_override ? ctx.status_override : status;
        if (status == 101 && ctx.request.header("Upgrade")) {
            // Switching protocols (WebSocket): nginx's header for it, then bytes both ways
            // until either side closes; the upstream's first ones may have come with its head.
            selection.finish(false, [] {});
            append(ctx.upstream_response_time, seconds_since(attempt_start));
            Relay relay{client, *upstream, p.send_timeout, p.read_timeout, result.sent};
            if (!co_await send_head_and_body(relay, upgrade_response_head(head, loc), buffer.data() + head.size(),
                                             read.received - head.size(), false))
                co_return result;
            if (client_buffer.size() > 0) {
                auto [fec, fn] = co_await asio::async_write(*upstream, client_buffer.data(), use_tuple);
                client_buffer.consume(fn);
                if (fec) co_return result;
            }
            co_await tunnel(client, *upstream, p.read_timeout, result.sent);
            co_return result;
        }
        // finish() runs once, however the exchange ends: success for the balancer.
        struct Done {
            PeerSelection& s;
            ~Done() { s.finish(false, [] {}); }
        } done{selection};
        struct Timing {
            RequestContext& c;
            clock::time_point t;
            ~Timing() {
                c.upstream_responding = false;
                c.upstream_length_now.reset();
                append(c.upstream_response_time, seconds_since(t));
            }
        } timing{ctx, attempt_start};
        ctx.upstream_responding = true;
        const Exchange exchange{client, *upstream, loc, ctx, cfg, peer_url, result};
        const bool reusable = co_await send_response(exchange, Answer{head, read, buffer.data(), buffer.size()}, client_keep_alive);
        counts.received += result.body_received;
        counts.length += result.body_received;
        if (reusable && idle && connection_requests + 1 < group.keepalive_requests)
            idle->put({std::move(upstream), connection_requests + 1, connection_opened}, std::move(key));
        co_return result;
    }
}

}  // namespace ngxlite::runtime
