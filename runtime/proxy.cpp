#include "runtime/proxy.hpp"

#include "runtime/header_arena.hpp"
#include "runtime/http_session.hpp"
#include "runtime/net.hpp"
#include "runtime/proxy_headers.hpp"
#include "runtime/text.hpp"
#include "runtime/tls.hpp"
#include "runtime/transport_stream.hpp"
#include "runtime/upstream.hpp"

#include "parser/ir/tls_files.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <sys/socket.h>

#include <chrono>

namespace ngxlite::runtime {

namespace {

// nginx escapes the URI it sends when it rebuilt it from the decoded one.
std::string escape_uri(std::string_view uri) {
    return percent_escape(uri, [](unsigned char c) { return c <= 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '%' || c == '?'; });
}

// The request line's URI (ngx_http_proxy_create_request): the received one when neither
// proxy_pass has a URI part nor a rewrite changed it; else the current URI, escaped, with
// proxy_pass's URI part in place of the location's prefix (unless `rewrite ... break`).
std::string upstream_uri(const ir::ProxySettings& p, const ir::Location& loc, const Request& req) {
    if (p.uri.empty() && req.valid_unparsed_uri) return req.request_uri;
    std::string_view rest = req.uri;
    std::string out;
    if (req.valid_location && !p.uri.empty()) {
        out = p.uri;
        if (loc.match == ir::LocationMatch::prefix || loc.match == ir::LocationMatch::prefix_no_regex ||
            loc.match == ir::LocationMatch::exact)
            rest.remove_prefix(std::min(rest.size(), loc.name.size()));
    }
    out += escape_uri(rest);
    if (!req.args.empty()) out += "?" + req.args;
    return out;
}

std::string build_request(const ir::ProxySettings& p, const std::string& uri, RequestContext& ctx) {
    const Request& req = ctx.request;
    std::string set_body;
    if (p.set_body) set_body = expand(*p.set_body, ctx);
    ctx.proxy_body = p.set_body ? &set_body : &req.body;
    const std::string method = p.method ? expand(*p.method, ctx) : req.method;
    std::string out;
    out.reserve(512 + req.body.size());
    out.append(method).append(" ").append(uri).append(p.http_version_minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
    for (const auto& h : p.set_headers) {
        const std::string v = expand(h.value, ctx);
        if (!v.empty()) append_header(out, h.name, v);
    }
    if (p.pass_request_headers) {
        for (const auto& header : req.headers) {
            const std::string& name = header.first;
            const bool set = std::any_of(p.set_headers.begin(), p.set_headers.end(),
                                         [&](const ir::HeaderSetting& h) { return iequal(h.name, name); });
            if (!set) append_header(out, name, header.second);
        }
    }
    out += "\r\n";
    if (p.set_body) out += set_body;
    else if (p.pass_request_body) out += req.body;
    ctx.proxy_body = nullptr;  // set_body lives only here
    return out;
}

// Headers nginx does not pass from an upstream response (ngx_http_proxy_hide_headers),
// plus the ones it writes itself.
bool hidden(std::string_view name, const ir::ProxySettings& p) {
    static constexpr std::string_view always[] = {"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length",
                                                  "Content-Type", "Last-Modified"};
    static constexpr std::string_view by_default[] = {"Date", "Server", "X-Pad", "X-Accel-Expires",
                                                      "X-Accel-Redirect", "X-Accel-Limit-Rate", "X-Accel-Buffering",
                                                      "X-Accel-Charset"};
    for (auto h : always)
        if (iequal(h, name)) return true;
    for (const auto& h : p.hide_headers)
        if (iequal(h, name)) return true;
    for (auto h : by_default)
        if (iequal(h, name))
            return std::none_of(p.pass_headers.begin(), p.pass_headers.end(), [&](const auto& x) { return iequal(x, name); });
    return false;
}

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

// A 64 KiB body buffer, kept by the worker thread between requests: glibc gives a freed
// one back to the kernel (madvise) and the next request faulted its pages in again,
// which cost more than the copy through them.
class BodyBuffer {
public:
    static constexpr std::size_t kSize = 65536;
    BodyBuffer() {
        auto& kept = spares();
        if (kept.empty()) {
            memory_ = std::make_unique_for_overwrite<char[]>(kSize);
        } else {
            memory_ = std::move(kept.back());
            kept.pop_back();
        }
    }
    ~BodyBuffer() {
        auto& kept = spares();
        if (kept.size() < kMaxSpares) kept.push_back(std::move(memory_));
    }
    BodyBuffer(const BodyBuffer&) = delete;
    BodyBuffer& operator=(const BodyBuffer&) = delete;
    char* data() const { return memory_.get(); }

private:
    static constexpr std::size_t kMaxSpares = 16;  // 1 MiB a worker at most
    static std::vector<std::unique_ptr<char[]>>& spares() {
        thread_local std::vector<std::unique_ptr<char[]>> kept;
        return kept;
    }
    std::unique_ptr<char[]> memory_;
};

// What one read or write moved (a struct: awaitable operators flatten tuples).
struct Transfer {
    boost::system::error_code ec;
    std::size_t bytes = 0;
};

// One read of up to `size` bytes, bounded by `timeout`.
template <class Stream>
Task<Transfer> read_chunk(Stream& from, char* into, std::size_t size, ir::Msec timeout) {
    from.expires_after(timeout);
    auto [ec, n] = co_await from.async_read_some(asio::buffer(into, size), use_tuple);
    co_return Transfer{ec, n};
}

// All of `size` bytes written, each write bounded by `timeout`.
template <class Stream>
Task<Transfer> write_chunk(Stream& to, const char* from, std::size_t size, ir::Msec timeout) {
    to.expires_after(timeout);
    auto [ec, n] = co_await asio::async_write(to, asio::buffer(from, size), use_tuple);
    co_return Transfer{ec, n};
}

// One direction of an upgraded connection; the other is cancelled when it ends.
template <class From, class To>
Task<void> pump(From& from, To& to, ir::Msec idle, std::uint64_t* counted) {
    std::array<char, 16384> chunk;
    for (;;) {
        const Transfer read = co_await read_chunk(from, chunk.data(), chunk.size(), idle);
        if (read.bytes > 0) {
            const Transfer written = co_await write_chunk(to, chunk.data(), read.bytes, idle);
            if (counted) *counted += written.bytes;
            if (written.ec) co_return;
        }
        if (read.ec) co_return;
    }
}

// nginx's ngx_http_upstream_process_upgraded: both directions until one side closes or
// stays silent for proxy_read_timeout.
Task<void> tunnel(TransportStream& client, TransportStream& upstream, ir::Msec idle, ProxyResult& result) {
    using namespace asio::experimental::awaitable_operators;
    std::uint64_t to_client = 0;
    co_await (pump(client, upstream, idle, nullptr) || pump(upstream, client, idle, &to_client));
    result.bytes_sent += to_client;
    result.body_bytes_sent += to_client;
}

struct VariableTarget {
    const ir::UpstreamGroup* group = nullptr;  // a group of the config, or `literal`; neither: `error`
    std::optional<ir::UpstreamGroup> literal;  // an address: a group of its own
    std::string uri;                           // the URL's URI part, sent as it is
    bool https = false;
    int error = 0;
};

// proxy_pass with variables (ngx_http_proxy_eval + ngx_http_upstream_init_request): the
// URL's host is an upstream {} name (no port given), an implicit group of the same
// host and port, or an address; a name needs a resolver, which ngxlite has not.
VariableTarget resolve_variable_pass(const ir::ProxySettings& p, RequestContext& ctx, const ir::HttpConfig& http,
                                     const ActiveConfig& cfg) {
    VariableTarget t;
    const std::string url = expand(p.pass_template, ctx);
    t.https = url.starts_with("https://");
    if (!t.https && !url.starts_with("http://")) {
        cfg.log_for(ctx).write(LogLevel::error, "invalid URL prefix in \"" + url + "\"" + describe(ctx), ctx.connection.id);
        t.error = 500;
        return t;
    }
    const std::uint16_t default_port = t.https ? 443 : 80;
    std::string_view rest = std::string_view(url).substr(t.https ? 8 : 7);
    const auto slash = rest.find('/');
    if (slash != std::string_view::npos) t.uri = std::string(rest.substr(slash));
    std::string_view hostport = rest.substr(0, slash);
    std::string_view host = hostport;
    std::uint16_t port = default_port;
    bool no_port = true;
    const auto colon = hostport.rfind(':');
    if (colon != std::string_view::npos && hostport.find(']', colon) == std::string_view::npos) {
        host = hostport.substr(0, colon);
        port = static_cast<std::uint16_t>(std::atoi(std::string(hostport.substr(colon + 1)).c_str()));
        no_port = false;
    }
    ctx.proxy_host = std::string(no_port || port == default_port ? host : hostport);
    t.group = runtime_upstream(http.upstreams, host, port, no_port, hostport, t.literal);
    if (!t.group) {
        cfg.log_for(ctx).write(LogLevel::error, "no resolver defined to resolve " + std::string(host) + describe(ctx), ctx.connection.id);
        t.error = 502;
    }
    return t;
}

}  // namespace

Task<ProxyResult> proxy_http(TransportStream& client, beast::flat_buffer& client_buffer, const ir::Location& loc, RequestContext& ctx,
                                        const ActiveConfig& cfg, bool client_keep_alive) {
    using clock = std::chrono::steady_clock;
    ProxyResult result;
    const ir::ProxySettings& p = *loc.proxy;
    const ir::HttpConfig& http_cfg = *cfg.ir->http;
    std::shared_ptr<UpstreamState> state;
    std::optional<ir::UpstreamGroup> literal;  // proxy_pass with variables to an address
    std::string uri;
    bool https = p.scheme == "https";
    ctx.proxying = true;
    if (p.pass_has_variables) {
        auto target = resolve_variable_pass(p, ctx, http_cfg, cfg);
        if (!target.group) {
            result.error_status = target.error;
            co_return result;
        }
        https = target.https;
        const bool is_literal = target.literal.has_value();
        literal = std::move(target.literal);
        const ir::UpstreamGroup& g = is_literal ? *literal : *target.group;
        state = literal ? std::make_shared<UpstreamState>(g, client.timed().timers())
                        : upstream_state(http_cfg.upstreams, static_cast<std::size_t>(target.group - http_cfg.upstreams.data()),
                                         client.timed().timers());
        uri = target.uri.empty() ? upstream_uri(p, loc, ctx.request) : target.uri;
    } else {
        state = upstream_state(http_cfg.upstreams, static_cast<std::size_t>(p.upstream_index), client.timed().timers());
        ctx.proxy_host = p.proxy_host;
        uri = upstream_uri(p, loc, ctx.request);
    }
    const ir::UpstreamGroup& group = state->group;
    PeerSelection selection(state, balancer_key(group, ctx));
    selection.limit_tries(p.next_upstream_tries);
    const std::string request = build_request(p, uri, ctx);
    std::string local_name;  // proxy_bind, as ngx_http_upstream_set_local finds it once per request
    const std::optional<ir::Endpoint> local = p.bind ? bind_address(*p.bind, ctx, local_name) : std::nullopt;
    if (p.bind && !local && !local_name.empty()) log_error(cfg, ctx, "invalid local address \"" + local_name + "\"", "");
    const std::string& method = ctx.request.method;
    const bool non_idempotent = method == "POST" || method == "LOCK" || method == "PATCH";
    const auto started = clock::now();
    const std::string_view scheme = https ? "https://" : "http://";
    IdleConnections* const idle = state->idle.get();
    // proxy_ssl_name (default: the proxied host), for the certificate check and SNI.
    const std::string ssl_name = https ? upstream_ssl_name(p.ssl.name.empty() ? std::string() : expand(p.ssl.name_template, ctx),
                                                           ctx.proxy_host)
                                       : std::string();
    const SSL_CTX* const tls_context = https ? p.ssl.context.get() : nullptr;
    // proxy_ssl_certificate with variables (ngx_http_upstream_ssl_certificate): an empty
    // certificate presents none.
    std::string client_certificate, client_key;
    if (https && p.ssl.certificate_value) {
        client_certificate = expand(p.ssl.certificate_value->certificate, ctx);
        if (!client_certificate.empty()) client_key = expand(p.ssl.certificate_value->key, ctx);
    }

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
        const std::string peer_url = std::string(scheme) + endpoint.text() + uri;
        append(ctx.upstream_addr, endpoint.text());
        ctx.proxy_port = std::to_string(endpoint.port);
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
            return selection.tries() > 0 && (p.next_upstream & type) == type && !timed_out;  // true: try the next
        };
        auto failed = [&](const boost::system::error_code& ec, std::string_view what) {
            const auto& http_category = http::make_error_code(http::error::end_of_stream).category();
            const bool timeout = ec == beast::error::timeout;
            std::string msg;
            if (timeout)
                msg = "upstream timed out (110: Connection timed out) while " + std::string(phase);
            else if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == http::error::partial_message)
                msg = "upstream prematurely closed connection while " + std::string(phase);
            else if (ec.category() == http_category || ec == http::error::header_limit)
                msg = "upstream sent invalid header while " + std::string(phase);
            else
                msg = std::string(what) + " failed (" + std::to_string(ec.value()) + ": " + ec.message() + ") while " +
                      std::string(phase);
            const bool invalid = !timeout && ec.category() == http_category &&
                                 ec != http::error::end_of_stream && ec != http::error::partial_message;
            // nginx logs a timeout from ngx_http_upstream_next, after the balancer's warning;
            // other errors as they happen.
            if (!timeout) log_error(cfg, ctx, msg, peer_url);
            const bool retry = next(timeout ? ir::kNextTimeout : invalid ? ir::kNextInvalidHeader : ir::kNextError, timeout ? 504 : 502);
            if (timeout) log_error(cfg, ctx, msg, peer_url);
            return retry;
        };

        // What a kept connection must have been made with to serve this attempt.
        IdleConnections::Key key{endpoint, tls_context, ssl_name, client_certificate};
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
        std::optional<ClientWatch> watch(std::in_place, client.timed(), upstream->socket());
        auto client_left = [&] {
            if (!watch->client_closed()) return false;
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
            upstream->expires_after(p.connect_timeout);
            const tcp::endpoint ep(asio::ip::make_address(endpoint.ip), endpoint.port);
            if (local) {
                boost::system::error_code bec;
                upstream->socket().open(ep.protocol(), bec);
                if (!bec) bec = bind_local(upstream->socket(), *local);
                if (bec) {  // nginx answers 500 and tries no other server
                    cfg.log_for(ctx).write(LogLevel::crit,
                                           ssl_call_error("bind(" + local_name + ")", bec) + " while connecting to upstream" +
                                               describe(ctx, peer_url),
                                           ctx.connection.id);
                    selection.finish(false, [] {});
                    result.error_status = 500;
                    co_return result;
                }
            }
            auto [cec] = co_await upstream->timed().async_connect(ep, use_tuple);
            if (!cec) upstream->socket().set_option(tcp::no_delay(true), cec);
            if (cec && client_left()) co_return result;
            if (cec) {
                append(ctx.upstream_connect_time, "-");
                append(ctx.upstream_header_time, "-");
                if (failed(cec, "connect()")) continue;
                co_return result;
            }
            if (https) {
                // ngx_http_upstream_ssl_init_connection and _handshake: bounded by
                // proxy_connect_timeout; a certificate that fails the checks closes the
                // connection before any request byte is sent.
                phase = "SSL handshaking to upstream";
                SSL* ssl = new_upstream_ssl(p.ssl, ssl_name, peer->tls_session);
                if (!ssl) {
                    append(ctx.upstream_connect_time, "-");
                    append(ctx.upstream_header_time, "-");
                    log_error(cfg, ctx, "SSL_new() failed while SSL handshaking to upstream", peer_url);
                    if (next(ir::kNextError, 502)) continue;
                    co_return result;
                }
                upstream->start_tls(ssl);
                if (!client_certificate.empty()) {
                    // nginx answers 500 here, before its handshake, and tries no other server.
                    const std::string error = ir::use_connection_certificate(ssl, client_certificate, client_key, p.ssl.passwords,
                                                                             p.ssl.certificate_value->conf_prefix);
                    if (!error.empty()) {
                        append(ctx.upstream_connect_time, "-");
                        append(ctx.upstream_header_time, "-");
                        log_error(cfg, ctx, error + " while connecting to upstream", peer_url);
                        selection.finish(false, [] {});
                        result.error_status = 500;
                        co_return result;
                    }
                }
                auto [hsec] = co_await upstream->async_handshake(TransportStream::TlsRole::client, use_tuple);
                std::string refused = hsec ? std::string() : verify_upstream(ssl, p.ssl, ssl_name);
                if (hsec && client_left()) co_return result;
                if (hsec || !refused.empty()) {
                    append(ctx.upstream_connect_time, "-");
                    append(ctx.upstream_header_time, "-");
                    if (hsec == beast::error::timeout) {
                        if (failed(hsec, "")) continue;
                        co_return result;
                    }
                    log_error(cfg, ctx, (hsec ? ssl_call_error("SSL_do_handshake()", hsec) : refused) + " while SSL handshaking to upstream", peer_url);
                    if (next(ir::kNextError, 502)) continue;
                    co_return result;
                }
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

        phase = "reading response header from upstream";
        beast::flat_buffer ubuf;
        HeaderArena<1024> fields_memory;
        http::response_parser<http::buffer_body, ArenaAllocator> parser(std::piecewise_construct, std::make_tuple(),
                                                                        std::make_tuple(fields_memory.allocator()));
        parser.body_limit(boost::none);
        if (method == "HEAD") parser.skip(true);
        upstream->expires_after(p.read_timeout);
        auto [hec, hn] = co_await http::async_read_header(*upstream, ubuf, parser, use_tuple);
        if (client_left()) co_return result;
        watch.reset();
        if (hec) {
            append(ctx.upstream_header_time, "-");
            if (failed(hec, "recv()")) continue;
            co_return result;
        }
        append(ctx.upstream_header_time, seconds_since(attempt_start));
        auto& res = parser.get();
        const int status = static_cast<int>(res.result_int());
        ctx.upstream_headers.clear();  // kept as one block: one allocation per response
        for (const auto& f : res) {
            ctx.upstream_headers += f.name_string();
            ctx.upstream_headers += ": ";
            ctx.upstream_headers += f.value();
            ctx.upstream_headers += "\r\n";
        }
        if (const std::uint32_t mask = next_upstream_mask(status); mask && selection.tries() > 1) {
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
        // Reached through error_page: its status answers, with nginx's text for it.
        const int client_status = ctx.status_override ? ctx.status_override : status;
        ctx.status = client_status;
        if (status == 101 && ctx.request.header("Upgrade")) {
            // Switching protocols (WebSocket): nginx's header for it, then bytes both ways
            // until either side closes.
            std::string out = "HTTP/1.1 101 Switching Protocols\r\nServer: " + server_header(loc.server_tokens) +
                              "\r\nDate: " + std::string(http_date(std::time(nullptr))) + "\r\nConnection: upgrade\r\n";
            for (const auto& f : res)
                if (!hidden(f.name_string(), p)) append_header(out, f.name_string(), f.value());
            out += "\r\n";
            selection.finish(false, [] {});
            append(ctx.upstream_response_time, seconds_since(attempt_start));
            client.expires_after(p.send_timeout);
            const std::array<asio::const_buffer, 2> head_parts{asio::buffer(out), ubuf.data()};
            auto [uwec, uwn] = co_await asio::async_write(client, head_parts, use_tuple);
            result.bytes_sent += uwn;
            result.body_bytes_sent += uwn - std::min(uwn, out.size());
            if (uwec) co_return result;
            if (client_buffer.size() > 0) {
                auto [fec, fn] = co_await asio::async_write(*upstream, client_buffer.data(), use_tuple);
                client_buffer.consume(fn);
                if (fec) co_return result;
            }
            co_await tunnel(client, *upstream, p.read_timeout, result);
            co_return result;
        }
        const bool head = method == "HEAD";
        const bool no_body = head || status == 204 || status == 304 || (status >= 100 && status < 200);
        const bool length_known = parser.content_length().has_value();
        const bool chunked = !no_body && !length_known && ctx.request.version == 11;
        const bool keep = client_keep_alive && (no_body || length_known || chunked);
        // nginx keeps an upstream connection when the response said nothing against it;
        // bytes past the response are dropped (an idle connection that turns readable
        // is closed by the keepalive cache).
        bool reusable = idle && res.version() == 11 && res.keep_alive() &&
                        (no_body || length_known || parser.chunked()) &&
                        connection_requests + 1 < group.keepalive_requests;
        // finish() runs once, however the exchange ends: success for the balancer.
        struct Done {
            PeerSelection& s;
            ~Done() { s.finish(false, [] {}); }
        } done{selection};
        struct Timing {
            RequestContext& c;
            clock::time_point t;
            ~Timing() { append(c.upstream_response_time, seconds_since(t)); }
        } timing{ctx, attempt_start};

        std::string out;
        out.reserve(512);
        out.append("HTTP/1.1 ").append(std::to_string(client_status)).append(" ");
        if (ctx.status_override)
            out.append(status_text(client_status));
        else
            out.append(res.reason());
        out.append("\r\n");
        append_header(out, "Server", server_header(loc.server_tokens));
        const std::time_t now = std::time(nullptr);  // one clock reading for Date and Expires
        append_header(out, "Date", http_date(now));
        if (auto it = res.find(http::field::content_type); it != res.end()) append_header(out, "Content-Type", it->value());
        if (length_known) append_header(out, "Content-Length", std::to_string(*parser.content_length()));
        if (auto it = res.find(http::field::last_modified); it != res.end()) append_header(out, "Last-Modified", it->value());
        static constexpr int with_headers[] = {200, 201, 204, 206, 301, 302, 303, 304, 307, 308};
        const bool add = std::find(std::begin(with_headers), std::end(with_headers), client_status) != std::end(with_headers);
        // proxy_redirect, then nginx's header filter: a Location it rewrote to a relative
        // one becomes absolute and goes early; any other keeps its place as sent.
        std::string location;
        bool location_early = false;
        if (auto it = res.find(http::field::location); it != res.end()) {
            auto rewritten = rewrite_location(p, it->value(), ctx);
            location = rewritten ? *rewritten : std::string(it->value());
            location_early = rewritten && location.starts_with("/");
            if (location_early) append_header(out, "Location", absolute_redirect(location, ctx));
        }
        if (chunked) out += "Transfer-Encoding: chunked\r\n";
        out += keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
        if (keep && loc.keepalive_header >= 0) append_header(out, "Keep-Alive", "timeout=" + std::to_string(loc.keepalive_header));
        // expires replaces the upstream's Expires and Cache-Control in place, or adds them.
        std::optional<std::pair<std::string, std::string>> expires;
        if (loc.expires != ir::Location::Expires::off && add) {
            std::optional<std::time_t> modified;
            if (auto it = res.find(http::field::last_modified); it != res.end()) {
                std::tm tm{};
                const std::string v(it->value());
                if (::strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) modified = ::timegm(&tm);
            }
            expires = expires_headers(loc, modified, now);
        }
        bool expires_sent = false, cache_control_sent = false;
        for (const auto& f : res) {
            if (expires && f.name() == http::field::expires) {
                if (!std::exchange(expires_sent, true)) append_header(out, "Expires", expires->first);
            } else if (expires && f.name() == http::field::cache_control) {
                if (!std::exchange(cache_control_sent, true)) append_header(out, "Cache-Control", expires->second);
            } else if (f.name() == http::field::location) {
                if (!location_early) append_header(out, f.name_string(), location);
            } else if (!hidden(f.name_string(), p)) {
                const auto rewritten = rewrite_header(p, f.name_string(), f.value(), ctx);
                append_header(out, f.name_string(), rewritten ? std::string_view(*rewritten) : std::string_view(f.value()));
            }
        }
        if (expires && !expires_sent) append_header(out, "Expires", expires->first);
        if (expires && !cache_control_sent) append_header(out, "Cache-Control", expires->second);
        for (const auto& h : loc.add_headers)
            if (add || h.always)
                if (std::string v = expand(h.value, ctx); !v.empty()) append_header(out, h.name, v);
        out += "\r\n";
        // The header goes with whatever of a known-length body came with it: one write.
        std::uint64_t left = !no_body && length_known ? *parser.content_length() : 0;
        const std::size_t buffered = static_cast<std::size_t>(std::min<std::uint64_t>(ubuf.size(), left));
        left -= buffered;
        if ((no_body || length_known) && ubuf.size() > buffered)  // nginx drops the rest, and says so
            cfg.log_for(ctx).write(LogLevel::warn,
                                "upstream sent more data than specified in \"Content-Length\" header while reading upstream" +
                                    describe(ctx, peer_url),
                                ctx.connection.id);
        client.expires_after(loc.send_timeout);
        // An HTTP/0.9 client gets the body alone.
        const std::string_view sent_head = ctx.request.version == 9 ? std::string_view() : std::string_view(out);
        const std::array<asio::const_buffer, 2> head_parts{asio::buffer(sent_head), asio::buffer(ubuf.data().data(), buffered)};
        auto [cwec, cwn] = co_await asio::async_write(client, head_parts, use_tuple);
        result.bytes_sent += cwn;
        result.body_bytes_sent += cwn > sent_head.size() ? cwn - sent_head.size() : 0;
        ctx.sent_header_block = std::move(out);  // no copy: done with it
        if (cwec) co_return result;

        // The body, streamed through the worker's 64 KiB buffers: never the whole of it in
        // memory; none when the header brought all of it (most small answers).
        const bool body_to_read = !no_body && (length_known ? left > 0 : !parser.is_done());
        std::optional<BodyBuffer> first;
        if (body_to_read) first.emplace();
        char* chunk = first ? first->data() : nullptr;
        constexpr std::size_t chunk_size = BodyBuffer::kSize;
        phase = "reading upstream";
        auto truncated = [&](const boost::system::error_code& rec) {
            log_error(cfg, ctx, rec == beast::error::timeout
                                    ? "upstream timed out (110: Connection timed out) while reading upstream"
                                    : "upstream prematurely closed connection while reading upstream",
                      peer_url);
        };
        if (!no_body && length_known) {
            // A known length needs no parser: the rest straight from the socket, through two
            // buffers, the next read from the upstream running while the last chunk is
            // written to the client (nginx's buffering overlaps them too).
            using namespace asio::experimental::awaitable_operators;
            std::optional<BodyBuffer> second;  // once a second read is due
            char* spare = nullptr;
            Transfer read = left > 0 ? co_await read_chunk(*upstream, chunk, static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, left)),
                                                           p.read_timeout)
                                     : Transfer{};
            while (read.bytes > 0) {
                left -= read.bytes;
                Transfer written, next;
                if (left > 0 && !read.ec) {
                    if (!spare) spare = second.emplace().data();
                    std::tie(written, next) =
                        co_await (write_chunk(client, chunk, read.bytes, loc.send_timeout) &&
                                  read_chunk(*upstream, spare, static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, left)), p.read_timeout));
                } else {
                    written = co_await write_chunk(client, chunk, read.bytes, loc.send_timeout);
                    next.ec = read.ec;  // the end, or why the rest is missing
                }
                result.bytes_sent += written.bytes;
                result.body_bytes_sent += written.bytes;
                if (written.ec) co_return result;
                std::swap(chunk, spare);
                read = next;
            }
            if (left > 0) {
                truncated(read.ec);
                co_return result;  // truncated: close the client
            }
        } else {
            while (!no_body && !parser.is_done()) {
                res.body().data = chunk;
                res.body().size = chunk_size;
                upstream->expires_after(p.read_timeout);
                auto [rec, rn] = co_await http::async_read(*upstream, ubuf, parser, use_tuple);
                if (rec == http::error::need_buffer) rec = {};
                const std::size_t got = chunk_size - res.body().size;
                if (got > 0) {
                    std::string frame;
                    if (chunked) {
                        char len[32];
                        std::snprintf(len, sizeof len, "%zx\r\n", got);
                        frame = len;
                    }
                    std::array<asio::const_buffer, 3> parts{asio::buffer(frame), asio::buffer(chunk, got),
                                                            asio::buffer(chunked ? "\r\n" : "", chunked ? 2 : 0)};
                    client.expires_after(loc.send_timeout);
                    auto [bec, bn] = co_await asio::async_write(client, parts, use_tuple);
                    result.bytes_sent += bn;
                    result.body_bytes_sent += bn;  // nginx counts the chunk framing as body
                    if (bec) co_return result;
                }
                if (rec) {
                    reusable = false;
                    if (rec != http::error::end_of_stream && rec != http::error::partial_message) truncated(rec);
                    if (!parser.is_done() && (length_known || chunked)) co_return result;  // truncated: close the client
                    break;
                }
            }
            if (chunked) {
                auto [eec, en] = co_await asio::async_write(client, asio::buffer("0\r\n\r\n", 5), use_tuple);
                result.bytes_sent += en;
                result.body_bytes_sent += en;
                if (eec) co_return result;
            }
        }
        if (reusable) idle->put({std::move(upstream), connection_requests + 1, connection_opened}, std::move(key));
        result.keep_alive = keep;
        co_return result;
    }
}

}  // namespace ngxlite::runtime
