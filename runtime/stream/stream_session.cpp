#include "runtime/stream/stream_session.hpp"

#include "parser/ir/address.hpp"
#include "parser/ir/tls_files.hpp"
#include "parser/ir/values.hpp"

#include "runtime/tls/client_hello.hpp"
#include "runtime/core/address_rules.hpp"
#include "runtime/http/request.hpp"
#include "runtime/upstream/resolver.hpp"
#include "runtime/io/splice_pipe.hpp"
#include "runtime/stream/stream_log.hpp"
#include "runtime/core/text.hpp"
#include "runtime/tls/tls.hpp"
#include "runtime/io/transport_stream.hpp"
#include "runtime/upstream/connector.hpp"
#include "runtime/upstream/upstream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <ctime>
#include <variant>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

namespace ngxlite::runtime {

namespace {

using namespace boost::asio::experimental::awaitable_operators;

// One upstream attempt, as ngx_stream_upstream_state_t: times in ms, -1 while unknown.
struct UpstreamAttempt {
    std::string peer;
    std::chrono::steady_clock::time_point start;
    std::int64_t connect_ms = -1;
    std::int64_t first_byte_ms = -1;
    std::int64_t session_ms = -1;
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
};

std::int64_t ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
}

// One session: the client, the upstream once connected, and what nginx counts for its
// log lines ("bytes from/to client", "bytes from/to upstream") and variables.
struct StreamSession final : ShutdownTarget {
    StreamSession(WorkerState& w, std::shared_ptr<const ActiveConfig> c, const ir::StreamServer& s, ConnectionInfo i,
                  WorkerSocket socket)
        : worker(w), cfg(std::move(c)), server(s), conn(std::move(i)), client(std::move(socket), w.timers),
          vars(conn, no_request) {
        ++worker.connections;
        worker.sessions.push_back(*this);
        facts.start = std::chrono::steady_clock::now();
        vars.maps = &cfg->ir->stream->maps;
        vars.variables = &cfg->ir->stream->variables;
        vars.stream = &facts;
    }
    ~StreamSession() {
        client.timed().expires_never();
        if (upstream) upstream->timed().expires_never();
        if (--worker.connections == 0 && worker.stopping) worker.wind_down();
    }
    StreamSession(const StreamSession&) = delete;
    StreamSession& operator=(const StreamSession&) = delete;

    WorkerState& worker;
    std::shared_ptr<const ActiveConfig> cfg;  // its serving process's
    const ir::StreamServer& server;
    ConnectionInfo conn;
    TransportStream client;
    std::unique_ptr<TransportStream> upstream;
    std::string peer_name;  // nginx's u->peer.name, once a peer is chosen
    bool proxying = false;  // the proxy handler runs: error lines carry its tail (s->log_handler)
    std::uint64_t from_client = 0, to_client = 0, from_upstream = 0, to_upstream = 0;
    int ends = 0;           // directions whose source ended (proxy_half_close)
    bool finished = false;  // the session is closing
    bool clean_end = false; // it closes because a side ended (not on an error or timeout)
    Request no_request;     // stream has none: RequestContext's connection facts serve
    RequestContext vars;    // the session's variables: set, map, captures
    StreamFacts facts;
    std::vector<UpstreamAttempt> attempts;
    // The balancer's walk; the connected peer stays counted (least_conn, max_conns) until
    // the session ends.
    std::optional<PeerSelection> selection;
    std::optional<ir::UpstreamGroup> literal_group;  // proxy_pass with variables to an address or a resolved name
    std::string first_bytes;  // for the upstream before the client's: the PROXY header, what preread read
    // proxy_upload_rate and proxy_download_rate (index: from_upstream), 0 for none; counted
    // from start_sec, nginx's u->start_sec; a direction waits on its timer when over it.
    std::uint64_t rate[2] = {0, 0};
    std::time_t start_sec = 0;
    std::unique_ptr<asio::steady_timer> rate_delay[2];
    std::string certificate_error;  // ssl_certificate with variables: why the handshake's load failed

    // nginx's shutdown timer: the session ends (its access log line still written), with
    // the proxy's info line once the proxy runs.
    void shutdown_timeout() override {
        if (finished) return;
        finished = true;
        if (proxying) {
            const bool connected = !attempts.empty() && attempts.back().connect_ms >= 0;
            log(LogLevel::info, "shutdown timeout", connected ? "proxying connection" : "connecting to upstream");
        }
        close();
    }
    void close() {
        client.timed().close();
        stop_upstream();
    }
    void stop_upstream() {
        if (upstream) upstream->timed().close();
        for (auto& timer : rate_delay)
            if (timer) timer->cancel();
    }
    // The pumps stop; a TLS client whose session ended cleanly keeps its socket for the
    // close_notify nginx's ngx_ssl_shutdown sends (without it, clients drop the session).
    void stop_pumps() {
        if (!clean_end || !client.tls_handle()) return close();
        boost::system::error_code ignored;
        client.socket().cancel(ignored);
        stop_upstream();
    }

    void first_upstream_byte() { attempts.back().first_byte_ms = ms_since(attempts.back().start); }

    // ngx_stream_log_handler, once the session is over: `status` is nginx's s->status.
    void write_access_log(int status) {
        if (server.access_logs.empty()) return;
        if (!attempts.empty()) {  // ngx_stream_proxy_finalize: the last attempt's totals
            UpstreamAttempt& last = attempts.back();
            if (last.session_ms < 0) last.session_ms = ms_since(last.start);
            last.bytes_sent = to_upstream;
            last.bytes_received = from_upstream;
        }
        const auto seconds = [](std::int64_t ms) { return ms < 0 ? std::string("-") : seconds_text(ms); };
        for (const auto& a : attempts) {
            const char* sep = &a == &attempts.front() ? "" : ", ";
            vars.upstream_addr += sep + a.peer;
            vars.upstream_connect_time += sep + seconds(a.connect_ms);
            facts.upstream_first_byte_time += sep + seconds(a.first_byte_ms);
            facts.upstream_session_time += sep + seconds(a.session_ms);
            facts.upstream_bytes_sent += sep + std::to_string(a.bytes_sent);
            facts.upstream_bytes_received += sep + std::to_string(a.bytes_received);
        }
        vars.status = status;
        vars.bytes_sent = to_client;
        facts.bytes_received = from_client;
        no_request.start = std::chrono::system_clock::now();  // $time_local: when the line is written
        cfg->access_logs->write(server.access_logs, cfg->ir->stream->log_formats, vars);
    }

    // ngx_stream_log_error and ngx_stream_proxy_log_error: the tail of every line.
    std::string context(std::string_view action) const {
        std::string out = (action.empty() ? std::string() : " while " + std::string(action)) + ", client: " + conn.remote_addr +
                          ", server: " + conn.server_text();
        if (!proxying) return out;
        if (!peer_name.empty()) out += ", upstream: \"" + peer_name + "\"";
        return out + ", bytes from/to client:" + std::to_string(from_client) + "/" + std::to_string(to_client) +
               ", bytes from/to upstream:" + std::to_string(from_upstream) + "/" + std::to_string(to_upstream);
    }
    const ErrorLog& error_log() const { return cfg->log(server.error_log); }  // the server's error_log
    void log(LogLevel level, const std::string& what, std::string_view action) const {
        error_log().write(level, what + context(action), conn.id);
    }
};

// ngx_stream_proxy_eval and the handler's lookup, then ngx_stream_proxy_resolve_handler:
// proxy_pass names an upstream group; with variables, a group or "address:port", or a
// name the server's resolver turns into the session's round-robin peers. The state to
// balance over, or the status to end with (500: nginx logs these with no action).
Task<std::variant<std::shared_ptr<UpstreamState>, int>> session_upstream(StreamSession& s, std::string& proxied_host) {
    const auto& groups = s.cfg->ir->stream->upstreams;
    if (!s.server.pass_has_variables)
        co_return upstream_state(groups, static_cast<std::size_t>(s.server.upstream_index), s.worker.timers);
    const std::string url = expand(s.server.pass_template, s.vars);
    if (url.size() >= 5 && iequal(std::string_view(url).substr(0, 5), "unix:")) {  // ngx_stream_proxy_eval
        const UnixTarget unix = unix_upstream(url, false, s.literal_group);
        if (!unix.error.empty()) {
            s.log(LogLevel::error, unix.error + " in upstream \"" + url + "\"", "");
            co_return 500;
        }
        proxied_host = url.substr(5);  // nginx's url.host: the path
        co_return std::make_shared<UpstreamState>(*s.literal_group, s.worker.timers);
    }
    const std::optional<HostPort> split = split_host_port(url);
    if (!split) {
        s.log(LogLevel::error, "invalid port in upstream \"" + url + "\"", "");
        co_return 500;
    }
    const auto [host, port, no_port] = *split;
    if (host.empty()) {
        s.log(LogLevel::error, "no host in upstream \"" + url + "\"", "");
        co_return 500;
    }
    proxied_host = std::string(host);
    const ir::UpstreamGroup* group = runtime_upstream(groups, host, port, no_port, url, s.literal_group);
    if (group && !s.literal_group) co_return upstream_state(groups, static_cast<std::size_t>(group - groups.data()), s.worker.timers);
    if (no_port) {
        s.log(LogLevel::error, "no port in upstream \"" + proxied_host + "\"", "");
        co_return 500;
    }
    if (group) co_return std::make_shared<UpstreamState>(*group, s.worker.timers);
    if (s.server.resolver < 0) {
        s.log(LogLevel::error, "no resolver defined to resolve " + proxied_host, "");
        co_return 500;
    }
    // Unresolved, the session ends with $status 500, as nginx 1.22.1 logs it.
    Resolver& resolver = worker_resolver(*s.cfg->ir, s.server.resolver, s.client.get_executor(), s.worker.timers, s.cfg->error_log);
    const ResolveResult resolved =
        co_await resolver.async_resolve(proxied_host, s.server.resolver_timeout, asio::use_awaitable_t<WorkerExecutor>{});
    if (resolved.state) {
        s.log(LogLevel::error,
              resolver_name(proxied_host) + " could not be resolved (" + std::to_string(resolved.state) + ": " +
                  resolver_strerror(resolved.state) + ")",
              "");
        co_return 500;
    }
    s.literal_group = resolved_group(proxied_host, port, resolved.addrs);
    co_return std::make_shared<UpstreamState>(*s.literal_group, s.worker.timers);
}

// ngx_proxy_protocol_write: "PROXY TCP4 client local client-port local-port\r\n".
std::string proxy_protocol_header(const ConnectionInfo& c) {
    if (c.remote_addr.starts_with("unix:")) return "PROXY UNKNOWN\r\n";
    const bool v6 = c.remote_addr.find(':') != std::string::npos;
    return std::string(v6 ? "PROXY TCP6 " : "PROXY TCP4 ") + c.remote_addr + " " + c.server_addr + " " +
           std::to_string(c.remote_port) + " " + std::to_string(c.server_port) + "\r\n";
}

// ngx_stream_complex_value_size: a value with variables that is no size logs and counts as 0.
std::uint64_t session_size(StreamSession& s, const ir::ComplexSize& v) {
    if (!v.value) return static_cast<std::uint64_t>(v.size);
    const std::string text = expand(*v.value, s.vars);
    const auto size = ir::parse_size(text);
    if (!size) s.log(LogLevel::error, "invalid size \"" + text + "\"", "connecting to upstream");
    return size ? static_cast<std::uint64_t>(*size) : 0;
}

// A failed attempt as ngx_stream_proxy_connect_handler and _next_upstream take it: logged
// and counted; 0 to try the next peer while proxy_next_upstream, its tries and its timeout
// allow, else the session's status.
int attempt_failed(StreamSession& s, const ConnectResult& connect, std::chrono::steady_clock::time_point started) {
    const ir::StreamServer& server = s.server;
    PeerSelection& selection = *s.selection;
    switch (connect.failed) {
    case ConnectStep::before_tls:
        return 200;  // nginx finalizes with NGX_STREAM_OK on a send error
    case ConnectStep::bind:
        s.log(connect.level, connect.error, connect.action());
        s.attempts.back().peer.clear();  // nginx names the attempt's peer after ngx_event_connect_peer
        return 500;
    case ConnectStep::ssl_new:
        s.log(LogLevel::alert, connect.error, connect.action());
        return 500;
    case ConnectStep::certificate:  // nginx ends the session with 500 here, no other server tried
        s.log(connect.level, connect.error, connect.action());
        selection.finish(false, [] {});
        return 500;
    default:
        break;
    }
    s.log(connect.level, connect.error, connect.action());
    selection.finish(true, [&] { s.log(LogLevel::warn, "upstream server temporarily disabled", connect.action()); });
    const bool timed_out =
        server.next_upstream_timeout.count() > 0 && std::chrono::steady_clock::now() - started >= server.next_upstream_timeout;
    return server.next_upstream && selection.tries() > 0 && !timed_out ? 0 : 502;
}

// ngx_stream_proxy_handler and _connect: the group's peers tried in turn through the
// connector. Returns 0 once connected, else the session's status (500, 502; 200 when
// worker_shutdown_timeout ended it meanwhile).
Task<int> connect_upstream(StreamSession& s) {
    const ir::StreamServer& server = s.server;
    s.proxying = true;
    s.start_sec = std::time(nullptr);
    ConnectSettings settings{
        .local = local_address(server.bind, s.vars), .timeout = server.connect_timeout, .socket_keepalive = server.socket_keepalive};
    if (settings.local.invalid()) s.log(LogLevel::error, "invalid local address \"" + settings.local.name + "\"", "");
    std::string proxied_host = server.proxy_pass;
    auto chosen = co_await session_upstream(s, proxied_host);
    if (const int* status = std::get_if<int>(&chosen)) co_return *status;
    const auto state = std::get<std::shared_ptr<UpstreamState>>(std::move(chosen));
    PeerSelection& selection = s.selection.emplace(state, balancer_key(state->group, s.vars));
    selection.limit_tries(server.next_upstream_tries);
    const auto started = std::chrono::steady_clock::now();
    const bool tls = server.ssl.enabled;
    if (tls) settings.tls = upstream_tls(server.ssl, s.vars, proxied_host);
    // With TLS the PROXY header goes in the clear before the handshake
    // (ngx_stream_proxy_send_proxy_protocol); without, in one write with the first bytes.
    if (server.proxy_protocol && tls) settings.before_tls = proxy_protocol_header(s.conn);
    for (;;) {
        if (!s.attempts.empty()) {  // ngx_stream_proxy_next_upstream: the failed attempt's figures
            UpstreamAttempt& failed = s.attempts.back();
            failed.session_ms = ms_since(failed.start);
            failed.bytes_sent = s.to_upstream;
            failed.bytes_received = s.from_upstream;
        }
        s.attempts.push_back({state->group.name, std::chrono::steady_clock::now()});
        s.to_upstream = 0;  // nginx's pc->sent: the connection's own
        Peer* peer = selection.next();
        if (!peer) {
            s.peer_name = state->group.name;
            s.log(LogLevel::error, "no live upstreams", "connecting to upstream");
            co_return 502;
        }
        s.peer_name = peer->endpoint->text();
        s.attempts.back().peer = s.peer_name;
        s.upstream = std::make_unique<TransportStream>(WorkerSocket(s.client.get_executor()), s.worker.timers);
        const ConnectResult connect = co_await connect_peer(*s.upstream, *peer, settings);
        s.to_upstream += connect.sent;
        if (connect.connected()) break;
        if (connect.ec && s.finished) co_return 200;  // ended by worker_shutdown_timeout
        if (const int status = attempt_failed(s, connect, started)) co_return status;
    }
    selection.connected();
    if (boost::system::error_code lec; s.error_log().wants(LogLevel::info))
        if (const auto bound = s.upstream->socket().local_endpoint(lec); !lec)
            log_proxy_connected(s.error_log(), s.conn.id, endpoint_of(bound), s.peer_name, false);
    s.attempts.back().connect_ms = ms_since(s.attempts.back().start);  // ngx_stream_proxy_init_upstream
    if (server.proxy_protocol && !tls) s.first_bytes.insert(0, proxy_protocol_header(s.conn));
    s.rate[0] = session_size(s, server.upload_rate);
    s.rate[1] = session_size(s, server.download_rate);
    co_return 0;
}

void log_read_error(StreamSession& s, const boost::system::error_code& ec, bool from_upstream) {
    if (ec == beast::error::timeout)
        s.log(LogLevel::info, "connection timed out (110: Connection timed out)", "proxying connection");
    else if (ec != asio::error::operation_aborted && ec != asio::error::bad_descriptor)
        s.log(LogLevel::error, ssl_call_error(ec.category() == asio::error::get_ssl_category() ? "SSL_read()" : "recv()", ec),
              from_upstream ? "proxying and reading from upstream" : "proxying and reading from client");
}

// Bytes one way until the source ends or fails, through a buffer of proxy_buffer_size.
// Any progress re-arms proxy_timeout on both sides, as nginx's one timer per session.
// Returns true when the source ended cleanly (its read side got EOF).
// A direction's pause under its rate (nginx's delayed read); false once the session ended.
Task<bool> rate_pause(StreamSession& s, bool from_upstream, std::uint64_t ms) {
    auto& timer = s.rate_delay[from_upstream];
    if (!timer) timer = std::make_unique<asio::steady_timer>(s.client.get_executor());
    timer->expires_after(std::chrono::milliseconds(ms));
    auto [ec] = co_await timer->async_wait(use_tuple);
    co_return !ec && !s.finished;
}

// Under a rate, as ngx_stream_proxy_process: a read takes at most what the seconds since
// the start allow, and after one the direction pauses n * 1000 / rate milliseconds.
Task<bool> pump(StreamSession& s, TransportStream& from, TransportStream& to, std::uint64_t& received, std::uint64_t& sent,
                bool from_upstream) {
    std::vector<char> buffer(static_cast<std::size_t>(std::max<std::int64_t>(s.server.buffer_size, 1)));
    const std::uint64_t rate = s.rate[from_upstream];
    for (;;) {
        std::size_t size = buffer.size();
        if (rate) {
            const auto allowed = static_cast<std::int64_t>(rate) * (std::time(nullptr) - s.start_sec + 1);
            const std::int64_t limit = allowed - static_cast<std::int64_t>(received);
            if (limit <= 0) {
                if (!co_await rate_pause(s, from_upstream, static_cast<std::uint64_t>(-limit) * 1000 / rate + 1)) co_return false;
                continue;
            }
            size = std::min(size, static_cast<std::size_t>(limit));
        }
        from.expires_after(s.server.timeout);
        to.expires_after(s.server.timeout);
        auto [rec, n] = co_await from.async_read_some(asio::buffer(buffer.data(), size), use_tuple);
        if (rec == asio::error::eof || rec == asio::ssl::error::stream_truncated) co_return true;
        if (rec) {
            log_read_error(s, rec, from_upstream);
            co_return false;
        }
        if (from_upstream && received == 0) s.first_upstream_byte();
        received += n;
        auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buffer.data(), n), use_tuple);
        sent += wn;
        if (wec) co_return false;
        if (const std::uint64_t pause = rate ? n * 1000 / rate : 0; pause && !co_await rate_pause(s, from_upstream, pause))
            co_return false;
    }
}

thread_local SplicePipePool splice_pipes;

// pump for plain TCP on both sides: splice(2) from the source socket into a pipe and on
// into the destination, so the bytes never enter user space; waits for either socket as
// the kernel asks. The pipe is emptied before the next read: nothing is held at the end.
Task<bool> splice_pump(StreamSession& s, TransportStream& from, TransportStream& to, SplicePipe& pipe, std::uint64_t& received,
                       std::uint64_t& sent, bool from_upstream) {
    const int in = from.socket().native_handle();
    const int out = to.socket().native_handle();
    constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
    for (;;) {
        from.expires_after(s.server.timeout);
        to.expires_after(s.server.timeout);
        const ssize_t n = ::splice(in, nullptr, pipe.write_end, nullptr, SplicePipe::kCapacity, kFlags);
        if (n == 0) co_return true;
        if (n < 0) {
            const int error = errno;
            if (error == EINTR) continue;
            if (error == EAGAIN) {
                auto [wec] = co_await from.timed().async_wait(tcp::socket::wait_read, use_tuple);
                if (!wec) continue;
                log_read_error(s, wec, from_upstream);
            } else {
                log_read_error(s, {error, boost::system::system_category()}, from_upstream);
            }
            co_return false;
        }
        if (from_upstream && received == 0) s.first_upstream_byte();
        received += static_cast<std::uint64_t>(n);
        pipe.held = static_cast<std::size_t>(n);
        while (pipe.held > 0) {
            const ssize_t m = ::splice(pipe.read_end, nullptr, out, nullptr, pipe.held, kFlags);
            if (m < 0 && errno == EINTR) continue;
            if (m < 0 && errno == EAGAIN) {
                auto [wec] = co_await to.timed().async_wait(tcp::socket::wait_write, use_tuple);
                if (wec) co_return false;
                continue;
            }
            if (m <= 0) co_return false;
            sent += static_cast<std::uint64_t>(m);
            pipe.held -= static_cast<std::size_t>(m);
        }
    }
}

// ngx_stream_proxy_test_finalize: without proxy_half_close the session ends when either
// side does; with it, an ended side's end is passed on and the session waits for the other.
Task<void> one_way(StreamSession& s, bool from_upstream) {
    TransportStream& from = from_upstream ? *s.upstream : s.client;
    TransportStream& to = from_upstream ? s.client : *s.upstream;
    std::uint64_t& received = from_upstream ? s.from_upstream : s.from_client;
    std::uint64_t& sent = from_upstream ? s.to_client : s.to_upstream;
    bool ended = false;
    bool forwarded = true;
    if (!from_upstream && !s.first_bytes.empty()) {  // nginx's first upstream_out chain
        auto [wec, n] = co_await asio::async_write(to, asio::buffer(s.first_bytes), use_tuple);
        sent += n;
        forwarded = !wec;
        s.first_bytes = {};
    }
    if (forwarded) {
        std::unique_ptr<SplicePipe> pipe;
        if (!from.tls_handle() && !to.tls_handle() && !s.rate[from_upstream]) pipe = splice_pipes.take();
        if (pipe && *pipe) {
            ended = co_await splice_pump(s, from, to, *pipe, received, sent, from_upstream);
            splice_pipes.give_back(std::move(pipe));
        } else {
            ended = co_await pump(s, from, to, received, sent, from_upstream);
        }
    }
    if (ended && s.server.half_close && !s.finished) {
        boost::system::error_code ignored;
        to.socket().shutdown(tcp::socket::shutdown_send, ignored);
        if (++s.ends < 2) co_return;
    }
    if (!s.finished) {
        s.finished = true;
        s.clean_end = ended;
        if (ended)
            log_disconnected(s.error_log(), s.conn.id, from_upstream, {s.from_client, s.to_client, s.from_upstream, s.to_upstream});
    }
    s.stop_pumps();
}

// ngx_stream_core_preread_phase with ssl_preread: reads until the ClientHello is whole
// (or the bytes are not TLS); returns 0 to go on, else the status to end with: 200 when
// the client leaves or preread_timeout passes first, 400 when the buffer fills. What was
// found so far stays in the variables, as nginx's context; bytes that are not TLS drop it.
Task<int> preread(StreamSession& s) {
    const std::size_t capacity = static_cast<std::size_t>(std::max<std::int64_t>(s.server.preread_buffer_size, 1));
    std::vector<char> buffer(capacity);
    std::size_t size = 0;
    ClientHello& hello = s.facts.preread.emplace();
    s.client.expires_after(s.server.preread_timeout);  // once, as nginx's timer
    for (;;) {
        const PrereadStatus status = parse_client_hello(std::string_view(buffer.data(), size), hello);
        if (status != PrereadStatus::need_more) {
            if (status == PrereadStatus::not_tls) s.facts.preread.reset();
            s.first_bytes.assign(buffer.data(), size);
            co_return 0;
        }
        if (size == capacity) {
            s.log(LogLevel::error, "preread buffer full", "prereading client data");
            co_return 400;
        }
        auto [ec, n] = co_await s.client.async_read_some(asio::buffer(buffer.data() + size, capacity - size), use_tuple);
        if (ec) co_return 200;
        size += n;
    }
}

// ngx_stream_ssl_certificate: the server's certificates named by variables, evaluated
// with the session's variables (e.g. a map of $ssl_server_name) and loaded into its SSL.
int load_server_certificates(SSL* ssl, void* arg) {
    auto& s = *static_cast<StreamSession*>(arg);
    const ir::SslServerSettings& settings = *s.server.ssl_server;
    for (const auto& c : settings.certificate_values) {
        s.certificate_error =
            ir::use_connection_certificate(ssl, expand(c.certificate, s.vars), expand(c.key, s.vars), settings.passwords, c.conf_prefix);
        if (!s.certificate_error.empty()) return 0;  // the handshake fails: "cert cb error"
    }
    return 1;
}

// The server's TCP listen the connection came to, nginx's addr_conf: the exact address,
// else its port's wildcard.
const ir::Listen& matched_listen(const ir::StreamServer& server, const ConnectionInfo& conn) {
    const ir::Listen* found = nullptr;
    for (const auto& l : server.listens) {
        if (l.udp || l.endpoint.port != conn.server_port) continue;
        if ((l.endpoint.unix_socket ? l.endpoint.text() : l.endpoint.ip) == conn.server_addr) return l;
        if (l.wildcard) found = &l;
    }
    return *found;  // the server was found by this address
}

// The session's phases as nginx runs them; returns its $status: 200, or 500 when the
// client's TLS handshake or certificate fails, 502 when no upstream could be reached.
Task<int> serve_session(StreamSession& s) {
    const ir::Listen& listen = matched_listen(s.server, s.conn);
    log_client_connected(s.error_log(), s.conn, listen.endpoint, false);
    for (const auto& [index, value] : s.server.sets)  // ngx_stream_set_module: the preaccess phase
        s.vars.set_variable(index, expand(value, s.vars));
    if (const ir::AccessRule* rule = first_match(s.server.access_rules, s.conn.remote_addr); rule && !rule->allow) {
        s.log(LogLevel::error, "access forbidden by rule", "initializing session");  // ngx_stream_access_found
        co_return 403;
    }
    // ngx_stream_ssl_handler: TLS only on the server's `listen ... ssl` addresses.
    if (const auto& tls = s.server.ssl_server; tls && listen.ssl) {
        // ngx_stream_ssl_handler: the handshake under ssl_handshake_timeout, then the
        // client certificate checked as ssl_verify_client says.
        SSL* ssl = SSL_new(tls->context.get());
        if (!ssl) co_return 500;
        if (!tls->certificate_values.empty()) SSL_set_cert_cb(ssl, load_server_certificates, &s);
        s.client.expires_after(s.server.ssl_handshake_timeout);
        s.client.start_tls(ssl);
        s.conn.ssl = ssl;  // $ssl_* read it even when the handshake fails, as nginx's c->ssl
        auto [hec] = co_await s.client.async_handshake(TransportStream::TlsRole::server, use_tuple);
        const std::string tail = handshake_log_tail(s.conn);
        if (hec) {
            if (!s.certificate_error.empty()) s.error_log().write(LogLevel::error, s.certificate_error + tail, s.conn.id);
            s.error_log().write(LogLevel::info,
                                   (hec == beast::error::timeout ? std::string("SSL handshake timed out (110: Connection timed out)")
                                                                 : ssl_call_error("SSL_do_handshake()", hec)) + tail,
                                   s.conn.id);
            co_return 500;
        }
        std::string refused;
        if (check_client_certificate(ssl, tls->verify_client, refused)) {
            s.error_log().write(LogLevel::info, refused + tail, s.conn.id);
            co_return 500;
        }
    }
    if (s.server.ssl_preread)
        if (const int status = co_await preread(s)) co_return status;
    if (s.server.return_value) {  // ngx_stream_return_handler: the value, then the end
        const std::string text = expand(*s.server.return_value, s.vars);
        s.client.expires_after(s.server.timeout);
        auto [wec, n] = co_await asio::async_write(s.client, asio::buffer(text), use_tuple);
        s.to_client += n;
        if (!wec) co_await s.client.async_close_notify(use_tuple);
        co_return 200;
    }
    if (const int status = co_await connect_upstream(s)) co_return status;
    co_await (one_way(s, false) && one_way(s, true));
    co_return 200;
}

Task<void> run_session(std::unique_ptr<StreamSession> s) {
    const int status = co_await serve_session(*s);
    s->write_access_log(status);
    if (s->selection) s->selection->finish(false, [] {});  // ngx_stream_proxy_finalize frees the peer
    if (s->clean_end && s->client.tls_handle()) {  // after the log line, as ngx_stream_close_connection
        s->client.expires_after(std::chrono::seconds(3));  // nginx's timer for an unfinished ngx_ssl_shutdown
        co_await s->client.async_close_notify(use_tuple);
        s->client.timed().close();
    }
}

}  // namespace

void serve_stream(WorkerSocket socket, WorkerState& worker, ConnectionInfo conn, const ir::StreamServer& server) {
    auto s = std::make_unique<StreamSession>(worker, worker.config, server, std::move(conn), std::move(socket));
    const auto ex = s->client.get_executor();
    asio::co_spawn(ex, run_session(std::move(s)), asio::detached);
}

}  // namespace ngxlite::runtime
