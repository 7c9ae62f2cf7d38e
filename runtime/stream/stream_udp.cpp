#include "runtime/stream/stream_udp.hpp"

#include "runtime/core/address_rules.hpp"
#include "runtime/http/request.hpp"
#include "runtime/core/logs.hpp"
#include "runtime/stream/stream_log.hpp"
#include "runtime/tls/tls.hpp"
#include "runtime/upstream/upstream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <optional>
#include <vector>

namespace ngxlite::runtime {

using udp = asio::ip::udp;
using namespace boost::asio::experimental::awaitable_operators;

// One UDP session (nginx's SOCK_DGRAM ngx_stream_session_t with its proxy upstream).
struct UdpSession : std::enable_shared_from_this<UdpSession> {
    UdpSession(UdpListener& l, const ir::StreamServer& s, ConnectionInfo c, udp::endpoint from)
        : listener(&l), worker(l.worker_), cfg(worker.config), server(s), conn(std::move(c)), client(from),
          client_socket(l.socket_), upstream(client_socket->get_executor()), idle(client_socket->get_executor()),
          paced(client_socket->get_executor()), download_pause(client_socket->get_executor()),
          vars(conn, no_request) {
        ++worker.connections;
        facts.start = std::chrono::steady_clock::now();
        vars.maps = &cfg->ir->stream->maps;
        vars.variables = &cfg->ir->stream->variables;
        vars.stream = &facts;
    }
    ~UdpSession() {
        if (--worker.connections == 0 && worker.stopping) worker.wind_down();
    }

    UdpListener* listener;  // null once the session no longer takes the client's datagrams
    WorkerState& worker;
    std::shared_ptr<const ActiveConfig> cfg;
    const ir::StreamServer& server;
    ConnectionInfo conn;
    udp::endpoint client;
    std::shared_ptr<UdpSocket> client_socket;  // the listening one: replies go out from its address
    UdpSocket upstream;
    asio::steady_timer idle;  // proxy_timeout, re-armed by a datagram either way
    asio::steady_timer paced;  // proxy_upload_rate's pauses (and waits for datagrams to send)
    asio::steady_timer download_pause;  // proxy_download_rate's
    std::time_t start_sec = 0;  // nginx's u->start_sec: rates count from it
    Request no_request;
    RequestContext vars;
    StreamFacts facts;
    std::optional<PeerSelection> selection;
    bool connected = false;
    bool peer_failed = false;  // a receive failed (ICMP refused): the peer counts as failed
    bool done = false;         // every expected response came, or the session was ended
    std::deque<std::string> pending;  // datagrams from the client before the upstream is connected
    std::string peer_name;
    std::int64_t requests = 1, responses = 0;  // packets from/to the client, the first counted as nginx
    std::uint64_t from_client = 0, to_client = 0, from_upstream = 0, to_upstream = 0;

    std::string counts() const {
        return ", packets from/to client:" + std::to_string(requests) + "/" + std::to_string(responses) +
               ", bytes from/to client:" + std::to_string(from_client) + "/" + std::to_string(to_client) +
               ", bytes from/to upstream:" + std::to_string(from_upstream) + "/" + std::to_string(to_upstream);
    }
    // ngx_stream_proxy_log_error's tail, as the TCP session's.
    void log(LogLevel level, const std::string& what, std::string_view action) const {
        std::string tail = " while " + std::string(action) + ", udp client: " + conn.remote_addr + ", server: " + conn.server_addr +
                           ":" + std::to_string(conn.server_port);
        if (!peer_name.empty()) tail += ", upstream: \"" + peer_name + "\"";
        tail += ", bytes from/to client:" + std::to_string(from_client) + "/" + std::to_string(to_client) +
                ", bytes from/to upstream:" + std::to_string(from_upstream) + "/" + std::to_string(to_upstream);
        cfg->log(server.error_log).write(level, what + tail, conn.id);
    }
    void log_bare(const std::string& what) const { cfg->log(server.error_log).write(LogLevel::info, what, conn.id); }

    void rearm() { idle.expires_after(server.timeout); }
    void send_upstream(const std::string& datagram) {
        boost::system::error_code ec;
        to_upstream += upstream.send(asio::buffer(datagram), 0, ec);
    }
    // A datagram from the client that reached this session.
    void from_client_datagram(std::string datagram) {
        if (done) return;
        ++requests;
        from_client += datagram.size();
        if (connected && !server.upload_rate.size) send_upstream(datagram);
        else pending.push_back(std::move(datagram));
        if (connected && server.upload_rate.size) paced.cancel();  // the paced sender wakes
        rearm();
        if (test_finalize()) idle.cancel();
    }
    // ngx_stream_proxy_test_finalize for SOCK_DGRAM: true once the session is over.
    bool test_finalize() {
        if (server.proxy_requests && requests < server.proxy_requests) return false;
        if (server.proxy_requests) detach();
        if (server.proxy_responses == 0x7fffffff || responses < server.proxy_responses * requests || !connected) return false;
        if (!done) log_bare("udp done" + counts());
        done = true;
        return true;
    }
    // ngx_delete_udp_connection: the client's next datagram starts a new session.
    void detach() {
        if (!listener) return;
        auto it = listener->sessions_.find(client);
        if (it != listener->sessions_.end() && it->second.get() == this) listener->sessions_.erase(it);
        listener = nullptr;
    }
    void end() {
        done = true;
        idle.cancel();
        paced.cancel();
        download_pause.cancel();
        boost::system::error_code ignored;
        upstream.close(ignored);
    }

    // proxy_timeout passed: a success once the expected responses came.
    int timed_out() {
        if (server.proxy_responses == 0x7fffffff || responses >= server.proxy_responses * requests) {
            log_bare("udp timed out" + counts());
            return 200;
        }
        log(LogLevel::error, "upstream timed out (110: Connection timed out)", "proxying connection");
        peer_failed = true;
        return 502;
    }
    // The upstream is read no more: the client's datagrams or proxy_timeout end the session.
    Task<int> wait_timeout() {
        for (;;) {
            co_await idle.async_wait(use_tuple);
            if (done) co_return 200;
            if (idle.expiry() <= asio::steady_timer::clock_type::now()) co_return timed_out();
        }
    }
    // ngx_stream_proxy_process's limit for a datagram under `rate`: before it, the wait until
    // the bytes so far are due (0: none); nginx never splits a datagram.
    std::int64_t rate_wait_ms(std::int64_t rate, std::uint64_t so_far) const {
        const std::int64_t limit = rate * (std::time(nullptr) - start_sec + 1) - static_cast<std::int64_t>(so_far);
        return limit > 0 ? 0 : -limit * 1000 / rate + 1;
    }
    // False once the session ended meanwhile.
    Task<bool> pause(asio::steady_timer& timer, std::int64_t ms) {
        if (ms <= 0) co_return !done;
        timer.expires_after(std::chrono::milliseconds(ms));
        co_await timer.async_wait(use_tuple);
        co_return !done;
    }
    // proxy_upload_rate: the client's datagrams go upstream as its pauses allow.
    Task<void> send_paced() {
        const std::int64_t rate = server.upload_rate.size;
        std::uint64_t sent = 0;
        while (!done) {
            if (pending.empty()) {
                paced.expires_at(asio::steady_timer::time_point::max());
                co_await paced.async_wait(use_tuple);
                continue;
            }
            if (!co_await pause(paced, rate_wait_ms(rate, sent))) co_return;
            const std::string datagram = std::move(pending.front());
            pending.pop_front();
            send_upstream(datagram);
            sent += datagram.size();
            if (!co_await pause(paced, static_cast<std::int64_t>(datagram.size()) * 1000 / rate)) co_return;
        }
    }
    Task<int> connect();
    Task<int> proxy();
    void write_access_log(int status);
};

// The group's peers tried as ngx_event_connect_peer does for UDP: only socket(), bind and
// connect() can fail, the datagram itself is not answered. 0 once connected, else the status.
Task<int> UdpSession::connect() {
    auto state = upstream_state(cfg->ir->stream->upstreams, static_cast<std::size_t>(server.upstream_index), worker.timers);
    PeerSelection& walk = selection.emplace(state, balancer_key(state->group, vars));
    walk.limit_tries(server.next_upstream_tries);
    for (;;) {
        Peer* peer = walk.next();
        if (!peer) {
            peer_name = state->group.name;
            log(LogLevel::error, "no live upstreams", "connecting to upstream");
            co_return 502;
        }
        peer_name = peer->endpoint->text();
        vars.upstream_addr = peer_name;
        const udp::endpoint ep(asio::ip::make_address(peer->endpoint->ip), peer->endpoint->port);
        boost::system::error_code ec;
        upstream.open(ep.protocol(), ec);
        if (!ec) upstream.non_blocking(true, ec);
        if (!ec) upstream.connect(ep, ec);
        if (!ec) co_return 0;
        log(LogLevel::error, ssl_call_error("connect()", ec), "connecting to upstream");
        upstream.close(ec);
        walk.finish(true, [&] { log(LogLevel::warn, "upstream server temporarily disabled", "connecting to upstream"); });
        if (!server.next_upstream || walk.tries() == 0) co_return 502;
    }
}

// Datagrams from the upstream to the client until test_finalize or proxy_timeout.
Task<int> UdpSession::proxy() {
    for (const auto& [index, value] : server.sets) vars.set_variable(index, expand(value, vars));
    if (const ir::AccessRule* rule = first_match(server.access_rules, conn.remote_addr); rule && !rule->allow) {
        // ngx_stream_access_found, before the proxy module's counts join the log's tail.
        cfg->log(server.error_log)
            .write(LogLevel::error,
                   "access forbidden by rule while initializing session, udp client: " + conn.remote_addr + ", server: " +
                       conn.server_addr + ":" + std::to_string(conn.server_port),
                   conn.id);
        co_return 403;
    }
    if (server.return_value) {  // ngx_stream_return_handler: the value as one datagram
        const std::string text = expand(*server.return_value, vars);
        boost::system::error_code ec;
        to_client += client_socket->send_to(asio::buffer(text), client, 0, ec);
        co_return 200;
    }
    if (const int status = co_await connect()) co_return status;
    if (boost::system::error_code lec; cfg->log(server.error_log).wants(LogLevel::info))
        if (const auto local = upstream.local_endpoint(lec); !lec)
            log_proxy_connected(cfg->log(server.error_log), conn.id, {local.address().to_string(), local.port(), local.address().is_v6()},
                                peer_name, true);
    connected = true;
    start_sec = std::time(nullptr);
    if (server.upload_rate.size) {
        asio::co_spawn(upstream.get_executor(), [self = shared_from_this()]() { return self->send_paced(); }, asio::detached);
    } else {
        for (; !pending.empty(); pending.pop_front()) send_upstream(pending.front());
    }
    rearm();
    const std::int64_t download_rate = server.download_rate.size;
    std::vector<char> buffer(static_cast<std::size_t>(std::max<std::int64_t>(server.buffer_size, 1)));
    while (!test_finalize()) {
        auto result = co_await (upstream.async_receive(asio::buffer(buffer), use_tuple) || idle.async_wait(use_tuple));
        if (done) co_return 200;
        if (result.index() == 1) {  // proxy_timeout, or re-armed meanwhile
            if (idle.expiry() > asio::steady_timer::clock_type::now()) continue;
            co_return timed_out();
        }
        auto [ec, n] = std::get<0>(result);
        if (ec == asio::error::operation_aborted) co_return 200;
        if (ec) {
            // nginx counts a failed read as an empty response (sent on to the client) and
            // the peer as failed when the session ends; the upstream is read no more.
            log(LogLevel::error, ssl_call_error("recv()", ec), "proxying and reading from upstream");
            peer_failed = true;
            n = 0;
        }
        ++responses;
        from_upstream += n;
        boost::system::error_code sec;
        to_client += client_socket->send_to(asio::buffer(buffer.data(), n), client, 0, sec);
        rearm();
        if (download_rate && !test_finalize()) {  // the next read waits as nginx's delayed one
            if (!co_await pause(download_pause, static_cast<std::int64_t>(n) * 1000 / download_rate)) co_return 200;
            if (!co_await pause(download_pause, rate_wait_ms(download_rate, from_upstream))) co_return 200;
        }
        if (peer_failed && !test_finalize()) co_return co_await wait_timeout();
    }
    co_return 200;
}

void UdpSession::write_access_log(int status) {
    if (server.access_logs.empty()) return;
    vars.status = status;
    vars.bytes_sent = to_client;
    facts.bytes_received = from_client;
    facts.upstream_bytes_sent = std::to_string(to_upstream);
    facts.upstream_bytes_received = std::to_string(from_upstream);
    no_request.start = std::chrono::system_clock::now();
    cfg->access_logs->write(server.access_logs, cfg->ir->stream->log_formats, vars);
}

namespace {

Task<void> run_udp_session(std::shared_ptr<UdpSession> s) {
    const int status = co_await s->proxy();
    s->detach();
    s->write_access_log(status);
    if (s->selection) s->selection->finish(s->peer_failed, [&] {
            s->log(LogLevel::warn, "upstream server temporarily disabled", "proxying connection");
        });
    boost::system::error_code ignored;
    s->upstream.close(ignored);
}

}  // namespace

UdpListener::UdpListener(WorkerState& worker, asio::io_context& ctx, int fd, const ir::Listen& listen,
                         std::atomic<std::uint64_t>& connection_numbers)
    : worker_(worker),
      socket_(std::make_shared<UdpSocket>(ctx.get_executor(), listen.endpoint.ipv6 ? udp::v6() : udp::v4(), fd)),
      connection_numbers_(connection_numbers), local_(listen.endpoint) {
    asio::co_spawn(ctx.get_executor(), receive_loop(), asio::detached);
}

UdpListener::~UdpListener() { close(); }

void UdpListener::close() {
    boost::system::error_code ignored;
    socket_->close(ignored);
    auto sessions = std::move(sessions_);
    for (auto& [client, session] : sessions) {
        session->listener = nullptr;
        session->log_bare("disconnected on shutdown");
        session->end();
    }
}

Task<void> UdpListener::receive_loop() {
    std::vector<char> buffer(65536);
    udp::endpoint from;
    for (;;) {
        auto [ec, n] = co_await socket_->async_receive_from(asio::buffer(buffer), from, use_tuple);
        if (ec == asio::error::operation_aborted || !socket_->is_open()) co_return;
        if (ec) continue;  // an ICMP error queued on the socket
        std::string datagram(buffer.data(), n);
        if (auto it = sessions_.find(from); it != sessions_.end()) {
            it->second->from_client_datagram(std::move(datagram));
            continue;
        }
        const ir::StreamServer* server = worker_.config->find_stream_server(local_, true);
        if (!server) continue;
        ConnectionInfo conn;
        conn.id = ++connection_numbers_;
        conn.remote_addr = from.address().to_string();
        conn.remote_port = from.port();
        conn.server_addr = local_.ip;
        conn.server_port = local_.port;
        log_client_connected(worker_.config->log(server->error_log), conn, local_, true);
        auto session = std::make_shared<UdpSession>(*this, *server, std::move(conn), from);
        session->from_client += datagram.size();
        session->pending.push_back(std::move(datagram));
        sessions_[from] = session;
        asio::co_spawn(socket_->get_executor(), run_udp_session(std::move(session)), asio::detached);
    }
}

}  // namespace ngxlite::runtime
