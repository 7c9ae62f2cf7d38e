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

#include <array>
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

namespace {

using Clock = std::chrono::steady_clock;

// One proxied request: what its attempts share.
struct ProxyRun {
    TransportStream& client;
    beast::flat_buffer& client_buffer;
    const ir::Location& loc;
    RequestContext& ctx;
    const ActiveConfig& cfg;
    const bool client_keep_alive;
    StreamedBody* const streamed;
    const ir::ProxySettings& p = *loc.proxy;
    ProxyResult result{};
    std::optional<ir::UpstreamGroup> literal{};  // proxy_pass with variables to an address or a name
    ProxyTarget target{};
    std::optional<PeerSelection> selection{};
    UpstreamRequest request{};
    ConnectSettings connect{};
    bool non_idempotent = false;
    Clock::time_point started = Clock::now();
    std::string_view scheme{};

    void log_warn(const std::string& what, const std::string& peer_url) const {
        cfg.log_for(ctx).write(LogLevel::warn, what + describe(ctx, peer_url), ctx.connection.id);
    }
    bool next_upstream_timed_out() const {
        return p.next_upstream_timeout.count() > 0 && Clock::now() - started >= p.next_upstream_timeout;
    }
};

// What a step of an attempt says: go on, try the next server, or the exchange is over.
enum class Step { go_on, retry, over };

// nginx's status for an attempt that failed this way.
int failure_status(std::uint32_t type) {
    switch (type) {
    case ir::kNextTimeout:
    case ir::kNextHttp504: return 504;
    case ir::kNextHttp500: return 500;
    case ir::kNextHttp503: return 503;
    case ir::kNextHttp403: return 403;
    case ir::kNextHttp404: return 404;
    case ir::kNextHttp429: return 429;
    default: return 502;
    }
}

// One attempt on one peer: its connection, its place in the $upstream_* lists (nginx's
// u->state) and how it fails (ngx_http_upstream_next).
struct Attempt {
    Attempt(ProxyRun& r, Peer& p)
        : run(r), peer(p),
          // nginx's log handler puts a ':' between a unix socket's path and the URI.
          peer_url(std::string(r.scheme) + p.endpoint->text() + (p.endpoint->unix_socket ? ":" : "") + r.target.uri),
          counts{r.ctx},
          key{*p.endpoint, r.target.https ? r.p.ssl.context.get() : nullptr, r.connect.tls.name, r.connect.tls.certificate} {
        append(r.ctx.upstream_addr, p.endpoint->text());
    }

    // The attempt's bytes, in their lists however it ends.
    struct Counts {
        RequestContext& c;
        std::uint64_t sent = 0, received = 0, length = 0;
        ~Counts() {
            append(c.upstream_bytes_sent, std::to_string(sent));
            append(c.upstream_bytes_received, std::to_string(received));
            append(c.upstream_response_length, std::to_string(length));
        }
    };

    // Counts the failure, then says whether the next server is tried (else the answer is
    // result.error_status).
    bool next(std::uint32_t type, int status) {
        RequestContext& ctx = run.ctx;
        append(ctx.upstream_status, std::to_string(status));
        append(ctx.upstream_response_time, seconds_since(start));
        const bool counted = type != ir::kNextHttp403 && type != ir::kNextHttp404;
        run.selection->finish(counted, [&] { run.log_warn("upstream server temporarily disabled while " + std::string(phase), peer_url); });
        if (cached && type == ir::kNextError) run.selection->retry_cached();
        if (request_sent && run.non_idempotent) type |= ir::kNextNonIdempotent;
        run.result.error_status = failure_status(type);
        // never once a streamed body began to go
        return run.selection->tries() > 0 && (run.p.next_upstream & type) == type && !run.next_upstream_timed_out() &&
               !(request_sent && run.streamed);
    }
    void log_failure(LogLevel level, const std::string& error) const {
        run.cfg.log_for(run.ctx).write(level, error + " while " + std::string(phase) + describe(run.ctx, peer_url), run.ctx.connection.id);
    }
    // nginx logs a timeout from ngx_http_upstream_next, after the balancer's warning;
    // other errors as they happen.
    bool failed_with(const std::string& error, bool timeout, LogLevel level) {
        if (!timeout) log_failure(level, error);
        const bool retry = next(timeout ? ir::kNextTimeout : ir::kNextError, timeout ? 504 : 502);
        if (timeout) log_failure(level, error);
        return retry;
    }
    bool failed(const boost::system::error_code& ec, std::string_view what) {
        const bool timeout = ec == beast::error::timeout;
        return failed_with(timeout                  ? std::string("upstream timed out (110: Connection timed out)")
                           : ec == asio::error::eof ? std::string("upstream prematurely closed connection")
                                                    : std::string(what) + " failed (" + std::to_string(ec.value()) + ": " +
                                                          ec.message() + ")",
                           timeout, LogLevel::error);
    }
    // nginx's ngx_http_upstream_check_broken_connection: a client gone before the response
    // header ends the exchange (499, the upstream closed).
    bool client_left() {
        if (!watch || !watch->client_closed()) return false;
        RequestContext& ctx = run.ctx;
        run.cfg.log_for(ctx).write(LogLevel::info,
                                   "epoll_wait() reported that client prematurely closed connection, so upstream connection is "
                                   "closed too while " + std::string(phase) + describe(ctx, peer_url),
                                   ctx.connection.id);
        append(ctx.upstream_status, "-");
        append(ctx.upstream_header_time, "-");
        append(ctx.upstream_response_time, seconds_since(start));
        run.selection->finish(false, [] {});
        run.result.client_closed = true;
        return true;
    }
    // The step failed with `ec`: retry, or the exchange is over.
    Step failed_step(const boost::system::error_code& ec, std::string_view what) {
        if (client_left()) return Step::over;
        append(run.ctx.upstream_header_time, "-");
        return failed(ec, what) ? Step::retry : Step::over;
    }
    // The exchange ends here with the upstream's `status` ("-": none), the balancer told of
    // no failure.
    void end(std::string_view status) {
        append(run.ctx.upstream_status, status);
        append(run.ctx.upstream_response_time, seconds_since(start));
        run.selection->finish(false, [] {});
    }
    void watch_client() {
        // Not with proxy_ignore_client_abort: the exchange goes on, its answer written to whatever is left.
        if (!run.p.ignore_client_abort) watch.emplace(run.client.timed(), upstream->socket());
    }

    ProxyRun& run;
    Peer& peer;
    const std::string peer_url;
    Counts counts;
    const Clock::time_point start = Clock::now();
    std::string_view phase = "connecting to upstream";
    bool request_sent = false;
    bool cached = false;  // a kept connection
    IdleConnections::Key key;  // what a kept connection must have been made with
    std::unique_ptr<TransportStream> upstream;
    int connection_requests = 0;
    Clock::time_point connection_opened = Clock::now();
    std::optional<ClientWatch> watch;  // from connecting until the response header
};

// A kept connection to the peer, else a new one (proxy_bind, TLS).
Task<Step> connect_attempt(Attempt& a) {
    ProxyRun& run = a.run;
    if (IdleConnections* idle = run.target.state->idle.get())
        if (auto kept = idle->take(a.key)) {
            a.upstream = std::move(kept->stream);
            a.connection_requests = kept->requests;
            a.connection_opened = kept->opened;
            a.cached = true;
        }
    if (!a.cached) a.upstream = std::make_unique<TransportStream>(WorkerSocket(run.client.get_executor()), run.client.timed().timers());
    a.watch_client();
    if (!a.cached) {
        const ConnectResult connected = co_await connect_peer(*a.upstream, a.peer, run.connect);
        if (!connected.connected()) {
            a.phase = connected.action();
            if (connected.ec && a.client_left()) co_return Step::over;
            if (connected.failed != ConnectStep::bind) {
                append(run.ctx.upstream_connect_time, "-");
                append(run.ctx.upstream_header_time, "-");
            }
            if (connected.failed == ConnectStep::bind || connected.failed == ConnectStep::certificate) {
                // nginx answers 500 and tries no other server
                a.log_failure(connected.level, connected.error);
                run.selection->finish(false, [] {});
                run.result.error_status = 500;
                co_return Step::over;
            }
            co_return a.failed_with(connected.error, connected.timed_out(), connected.level) ? Step::retry : Step::over;
        }
    }
    append(run.ctx.upstream_connect_time, seconds_since(a.start));
    co_return Step::go_on;
}

// The request head (with a buffered body), then a streamed body as it comes.
Task<Step> send_request(Attempt& a) {
    ProxyRun& run = a.run;
    a.phase = "sending request to upstream";
    a.upstream->expires_after(run.p.send_timeout);
    const std::array<asio::const_buffer, 2> request{asio::buffer(run.request.head), asio::buffer(run.request.body)};
    auto [wec, wn] = co_await write_all(*a.upstream, request);
    if (wec) co_return a.failed_step(wec, "writev()");
    a.request_sent = true;
    a.counts.sent = wn;
    if (!run.streamed) co_return Step::go_on;
    a.watch.reset();  // the body's reads see a client that goes
    const StreamedSend sent =
        co_await send_streamed_body(*a.upstream, *run.streamed, *run.ctx.request.body_streamed < 0, run.p.send_timeout);
    if (sent.write_error) {
        append(run.ctx.upstream_header_time, "-");
        a.failed(sent.write_error, "writev()");
        co_return Step::over;
    }
    if (sent.body != BodyEnd::read) {  // nginx's upstream finalized with the body's status
        append(run.ctx.upstream_header_time, "-");
        a.end("-");
        run.result.body_end = sent.body;
        run.result.error_status = sent.body == BodyEnd::too_large ? 413 : 400;
        co_return Step::over;
    }
    a.watch_client();
    co_return Step::go_on;
}

// The upstream's response header, and what it decides: the next server for a status
// proxy_next_upstream names, error_page for one proxy_intercept_errors takes,
// X-Accel-Redirect. go_on: the answer goes to the client.
Task<Step> read_response_head(Attempt& a, BodyBuffer& buffer, UpstreamHead& head, HeadRead& read) {
    ProxyRun& run = a.run;
    const ir::ProxySettings& p = run.p;
    RequestContext& ctx = run.ctx;
    a.phase = "reading response header from upstream";
    read = co_await read_head(*a.upstream, buffer, head, p.read_timeout);
    a.counts.received = read.received;
    a.counts.length = read.received - std::min(read.received, head.size());
    if (a.client_left()) co_return Step::over;
    a.watch.reset();
    ctx.upstream_headers = upstream_header_block(head);  // what came, even of a refused head
    if (read.error) co_return a.failed_step(read.error, "recv()");
    if (read.step == UpstreamHead::Step::invalid || read.step == UpstreamHead::Step::too_big) {
        append(ctx.upstream_header_time, "-");
        const std::string what = read.step == UpstreamHead::Step::invalid ? head.error() : "upstream sent too big header";
        log_error(run.cfg, ctx, what + " while " + std::string(a.phase), a.peer_url);
        co_return a.next(ir::kNextInvalidHeader, 502) ? Step::retry : Step::over;
    }
    if (read.step == UpstreamHead::Step::http09)  // nginx goes on with it as a 200's body
        log_error(run.cfg, ctx, "upstream sent no valid HTTP/1.0 header while " + std::string(a.phase), a.peer_url);
    append(ctx.upstream_header_time, seconds_since(a.start));
    if (p.accel_limit_rate)  // taken as the header is, whatever follows
        if (const auto rate = accel_limit_rate(head)) ctx.limit_rate = rate;
    const int status = read.step == UpstreamHead::Step::http09 ? 200 : head.status();
    if (const std::uint32_t mask = next_upstream_mask(status); mask && run.selection->tries() > 1 && !run.streamed) {
        const std::uint32_t need = a.request_sent && run.non_idempotent ? mask | ir::kNextNonIdempotent : mask;
        if ((p.next_upstream & need) == need && !run.next_upstream_timed_out() && a.next(mask, status)) co_return Step::retry;
    }
    const auto& pages = run.loc.error_pages;
    if (p.intercept_errors && status >= 300 &&
        std::any_of(pages.begin(), pages.end(), [&](const ir::ErrorPage& e) { return e.status == status; })) {
        a.end(std::to_string(status));  // proxy_intercept_errors: the location's error_page answers instead
        run.result.error_status = status;
        co_return Step::over;
    }
    run.result.error_status = 0;
    if (const auto target = p.accel_redirect ? head.find("X-Accel-Redirect") : std::nullopt) {
        a.end(std::to_string(status));  // the upstream is done with; the caller redirects
        run.result.accel = accel_redirect(*target, head, a.peer_url);
        co_return Step::over;
    }
    append(ctx.upstream_status, std::to_string(status));
    // Reached through error_page: its status answers, with nginx's text for it.
    ctx.status = ctx.status_override ? ctx.status_override : status;
    co_return Step::go_on;
}

// Switching protocols (WebSocket): nginx's header for it, then bytes both ways until
// either side closes; the upstream's first ones may have come with its head.
Task<void> upgrade(Attempt& a, const BodyBuffer& buffer, const UpstreamHead& head, const HeadRead& read) {
    ProxyRun& run = a.run;
    run.selection->finish(false, [] {});
    append(run.ctx.upstream_response_time, seconds_since(a.start));
    const std::string out = upgrade_response_head(head, run.loc);
    BodyFilters client(run.client, run.ctx, run.loc, run.cfg, out, false);
    const boost::system::error_code ec = co_await client.write({buffer.data() + head.size(), read.received - head.size()}, false);
    run.result.sent = {client.sent(), client.body_sent()};
    if (ec) co_return;
    if (run.client_buffer.size() > 0) {
        auto [ec, n] = co_await asio::async_write(*a.upstream, run.client_buffer.data(), use_tuple);
        run.client_buffer.consume(n);
        if (ec) co_return;
    }
    co_await tunnel(run.client, *a.upstream, run.p.read_timeout, run.result.sent);
}

// The answer relayed to the client; the connection kept for another request when it can be.
Task<void> relay_answer(Attempt& a, BodyBuffer& buffer, UpstreamHead& head, const HeadRead& read) {
    ProxyRun& run = a.run;
    // finish() runs once, however the exchange ends: success for the balancer.
    struct Done {
        PeerSelection& s;
        ~Done() { s.finish(false, [] {}); }
    } done{*run.selection};
    struct Timing {
        RequestContext& c;
        Clock::time_point t;
        ~Timing() {
            c.upstream_responding = false;
            c.upstream_length_now.reset();
            append(c.upstream_response_time, seconds_since(t));
        }
    } timing{run.ctx, a.start};
    run.ctx.upstream_responding = true;
    const Exchange exchange{run.client, *a.upstream, run.loc, run.ctx, run.cfg, a.peer_url, run.result};
    const bool reusable = co_await send_response(exchange, Answer{head, read, buffer.data(), buffer.size()}, run.client_keep_alive);
    a.counts.received += run.result.body_received;
    a.counts.length += run.result.body_received;
    IdleConnections* idle = run.target.state->idle.get();
    if (reusable && idle && a.connection_requests + 1 < run.target.state->group.keepalive_requests)
        idle->put({std::move(a.upstream), a.connection_requests + 1, a.connection_opened}, std::move(a.key));
}

// One attempt, step by step.
Task<Step> attempt(Attempt& a) {
    Step step = co_await connect_attempt(a);
    if (step == Step::go_on) step = co_await send_request(a);
    if (step != Step::go_on) co_return step;
    BodyBuffer buffer(static_cast<std::size_t>(a.run.p.buffer_size));
    HeaderArena<2048> fields_memory;  // the upstream's fields, then the client's headers_out
    UpstreamHead head(static_cast<std::size_t>(a.run.p.buffer_size), fields_memory.allocator());
    HeadRead read;
    step = co_await read_response_head(a, buffer, head, read);
    if (step != Step::go_on) co_return step;
    if (head.status() == 101 && read.step != UpstreamHead::Step::http09 && a.run.ctx.request.header("Upgrade"))
        co_await upgrade(a, buffer, head, read);
    else
        co_await relay_answer(a, buffer, head, read);
    co_return Step::over;
}

}  // namespace

Task<ProxyResult> proxy_http(TransportStream& client, beast::flat_buffer& client_buffer, const ir::Location& loc, RequestContext& ctx,
                             const ActiveConfig& cfg, bool client_keep_alive, StreamedBody* streamed) {
    ProxyRun run{client, client_buffer, loc, ctx, cfg, client_keep_alive, streamed};
    ctx.proxying = true;
    run.target = co_await proxy_target(client, loc, ctx, cfg, run.literal, run.result);
    if (!run.target.state) co_return std::move(run.result);
    const ir::UpstreamGroup& group = run.target.state->group;
    run.selection.emplace(run.target.state, balancer_key(group, ctx));
    run.selection->limit_tries(run.p.next_upstream_tries);
    run.request = build_request(run.p, run.target.uri, ctx);
    lower_prefix(ctx.proxy_host, run.target.lowercase_host);
    // How every attempt connects: proxy_bind, as ngx_http_upstream_set_local finds it once
    // per request, and TLS with the name from $proxy_host as lowercased above.
    run.connect = {.local = local_address(run.p.bind, ctx), .timeout = run.p.connect_timeout, .socket_keepalive = run.p.socket_keepalive};
    if (run.connect.local.invalid()) log_error(cfg, ctx, "invalid local address \"" + run.connect.local.name + "\"", "");
    if (run.target.https) run.connect.tls = upstream_tls(run.p.ssl, ctx, ctx.proxy_host);
    const std::string_view method = ctx.request.method;
    run.non_idempotent = method == "POST" || method == "LOCK" || method == "PATCH";
    run.scheme = run.target.https ? "https://" : "http://";
    for (;;) {
        Peer* peer = run.selection->next();
        if (!peer) {
            log_error(cfg, ctx, "no live upstreams while connecting to upstream", std::string(run.scheme) + group.name + run.target.uri);
            append(ctx.upstream_addr, group.name);
            append(ctx.upstream_status, "502");
            run.result.error_status = 502;
            co_return std::move(run.result);
        }
        Attempt a(run, *peer);
        if (co_await attempt(a) != Step::retry) co_return std::move(run.result);
    }
}

}  // namespace ngxlite::runtime
