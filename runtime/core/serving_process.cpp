#include "runtime/core/serving_process.hpp"

#include "runtime/http/http_session.hpp"
#include "runtime/tls/ocsp.hpp"
#include "runtime/core/process_title.hpp"
#include "runtime/stream/stream_session.hpp"
#include "runtime/stream/stream_udp.hpp"
#include "runtime/upstream/resolver.hpp"
#include "runtime/io/unix_socket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <thread>

namespace ngxlite::runtime {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

ServingUser ServingUser::of(const ir::Config& cfg) {
    ServingUser u;
    if (::geteuid() != 0) return u;
    const passwd* pw = ::getpwnam(cfg.user.c_str());
    const group* gr = ::getgrnam(cfg.group.c_str());
    if (!pw || !gr) return u;  // the parser refused such a config already
    u.name = cfg.user;
    u.uid = pw->pw_uid;
    u.gid = gr->gr_gid;
    u.switch_to = true;
    return u;
}

std::atomic<std::uint64_t>* shared_connection_counter() {
    void* memory = ::mmap(nullptr, sizeof(std::atomic<std::uint64_t>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) return nullptr;
    return new (memory) std::atomic<std::uint64_t>(0);
}

namespace {

// What a request or session sees of an accepted connection numbered `id`.
ConnectionInfo connection_info(const tcp::endpoint& local, const tcp::endpoint& remote, std::uint64_t id) {
    ConnectionInfo conn;
    conn.id = id;
    conn.remote_addr = remote.address().to_string();
    conn.remote_port = remote.port();
    conn.server_addr = local.address().to_string();
    conn.server_port = local.port();
    return conn;
}

// The same for a unix socket's connection: nginx's "unix:" peer (or "unix:PATH", a bound
// one) and "unix:PATH" server, with no ports ($remote_port and $server_port are empty).
ConnectionInfo unix_connection_info(int fd, const ir::Endpoint& listen, std::uint64_t id) {
    ConnectionInfo conn;
    conn.id = id;
    conn.remote_addr = unix_peer_text(fd);
    conn.server_addr = listen.text();
    return conn;
}

// One worker thread: its own io_context, its own acceptors on the shared sockets.
// Touched only from its own thread (others post to it).
class Worker {
public:
    Worker(std::shared_ptr<const ActiveConfig> config, std::atomic<std::uint64_t>& connection_numbers)
        : connection_numbers_(connection_numbers) {
        state_.config = std::move(config);
        state_.timers.attach(&timeouts_timer_);
    }
    ~Worker() {  // connections' last words must not reach the timers
        state_.shutdown_timer = nullptr;
        state_.timers.attach(nullptr);
    }

    // Accepts on a dup() of the listening socket, its own.
    void listen(const Listener& l) {
        if (l.listen.udp) {
            asio::post(ctx_, [this, fd = ::dup(l.fd), listen = l.listen] {
                udp_listeners_.push_back(std::make_unique<UdpListener>(state_, ctx_, fd, listen, connection_numbers_));
            });
            return;
        }
        // A unix socket rides in a tcp acceptor too: accept() is the same call, and its
        // addresses are taken apart from Asio's (accept_loop).
        asio::post(ctx_, [this, fd = ::dup(l.fd), endpoint = l.listen.endpoint] {
            auto& acceptor = *acceptors_.emplace_back(std::make_unique<tcp::acceptor>(ctx_, endpoint.ipv6 ? tcp::v6() : tcp::v4(), fd));
            asio::co_spawn(ctx_, accept_loop(acceptor, endpoint), asio::detached);
        });
    }
    // QUIT: stop accepting and close idle connections; run() returns once the requests in
    // flight are done, or after worker_shutdown_timeout (0: no limit) when they are not.
    void stop_gracefully() {
        asio::post(ctx_, [this] {
            // Closed, not destroyed: an accept that completed meanwhile still reaches its
            // acceptor, and the loop then ends on it.
            for (auto& a : acceptors_) a->close();
            for (auto& u : udp_listeners_) u->close();
            const ir::Msec limit = state_.config->ir->worker_shutdown_timeout;
            if (limit.count() > 0 && state_.connections > 0) {
                shutdown_timer_ = std::make_unique<asio::steady_timer>(ctx_, limit);
                shutdown_timer_->async_wait([this](const boost::system::error_code& ec) {
                    if (ec) return;
                    // Stream sessions end as nginx ends them (a log line each); HTTP ones at once.
                    const std::size_t ended = state_.end_sessions();
                    if (state_.connections > ended) ctx_.stop();
                });
                state_.shutdown_timer = shutdown_timer_.get();
            }
            stop_worker_resolvers();  // their sockets must not keep the worker alive
            state_.stop();
            work_.reset();
        });
    }
    void stop_now() { ctx_.stop(); }
    // `done` runs on the worker's thread once its io_context has nothing left to do.
    void start(std::function<void()> done) {
        thread_ = std::thread([this, done = std::move(done)] {
            attach_ocsp_worker(state_, ctx_.get_executor());  // ssl_stapling's fetches run here
            state_.log_buffers.attach();
            ctx_.run();
            state_.log_buffers.flush_all();  // nginx writes a worker's buffers as it exits
            done();
        });
    }
    void join() {
        if (thread_.joinable()) thread_.join();
    }

private:
    asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, const ir::Endpoint listen) {
        // A connection's local address is its listener's unless that is a wildcard: asked
        // of the kernel only then. The peer's comes with accept() (a unix peer's name
        // fits Asio's storage, but is read apart: unix_peer_text).
        boost::system::error_code bec;
        const tcp::endpoint bound = listen.unix_socket ? tcp::endpoint() : acceptor.local_endpoint(bec);
        const bool wildcard = !listen.unix_socket && (bec || bound.address().is_unspecified());
        tcp::endpoint remote;
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(ctx_, remote, asio::as_tuple(asio::use_awaitable));
            // A connection accepted before QUIT closed the acceptor is still served: it
            // left the listening queue, and no other process will see it.
            if (ec && (ec == asio::error::operation_aborted || !acceptor.is_open())) co_return;
            if (ec) {
                // EMFILE and friends: nginx logs and retries after a pause.
                state_.config->error_log.write(LogLevel::alert, "accept() failed (" + std::to_string(ec.value()) + ": " + ec.message() + ")");
                asio::steady_timer pause(ctx_, std::chrono::milliseconds(500));
                co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
                continue;
            }
            if (!make_room()) continue;  // the socket closes as it goes out of scope
            boost::system::error_code aec;
            const tcp::endpoint local = wildcard ? socket.local_endpoint(aec) : bound;
            if (aec) continue;  // gone already
            if (!listen.unix_socket) socket.set_option(tcp::no_delay(true), aec);  // tcp_nodelay on, nginx's default
            // Reads at once (serve_connection), splice(2) and OpenSSL on it never block.
            socket.non_blocking(true, aec);
            ConnectionInfo conn = listen.unix_socket ? unix_connection_info(socket.native_handle(), listen, ++connection_numbers_)
                                                     : connection_info(local, remote, ++connection_numbers_);
            const ir::Endpoint address = listen.unix_socket ? listen : endpoint_of(local);
            if (const ir::StreamServer* stream = state_.config->find_stream_server(address))
                serve_stream(std::move(socket), state_, std::move(conn), *stream);
            else if (const ServerSelector* selector = state_.config->find_selector(address))
                serve_http(std::move(socket), state_, std::move(conn), *selector);
        }
    }

    // worker_connections, which counts the listening sockets too, as nginx's do. Near the
    // limit (a sixteenth left) the oldest connections waiting for a request are closed to
    // make room, as ngx_drain_connections does, with one warning a second; false: none
    // could be, and the new connection is refused with nginx's alert.
    bool make_room() {
        const auto limit = static_cast<std::size_t>(state_.config->ir->worker_connections);
        const std::size_t used = state_.connections + acceptors_.size();
        std::size_t closed = 0;
        if (used + limit / 16 >= limit && (!state_.idle.empty() || !state_.fresh.empty())) {
            if (const std::time_t now = std::time(nullptr); now != reuse_warned_at_) {
                reuse_warned_at_ = now;
                state_.config->error_log.write(LogLevel::warn, std::to_string(limit) +
                                                                   " worker_connections are not enough, reusing connections");
            }
            std::size_t reusable = 0;  // counted up to where it no longer changes the number closed
            for (auto* list : {&state_.idle, &state_.fresh})
                for (auto it = list->begin(); it != list->end() && reusable < 256; ++it) ++reusable;
            const std::size_t n = std::max<std::size_t>(std::min<std::size_t>(32, reusable / 8), 1);
            // Kept-alive ones first (they were served), then new ones, oldest first.
            for (auto* list : {&state_.idle, &state_.fresh})
                for (; closed < n && !list->empty(); ++closed) {
                    TimedStream& oldest = list->front();
                    oldest.unlist();
                    oldest.close();  // its wait ends, and the connection with it
                }
        }
        if (used < limit || closed > 0) return true;
        state_.config->error_log.write(LogLevel::alert, std::to_string(limit) + " worker_connections are not enough");
        return false;
    }

    std::atomic<std::uint64_t>& connection_numbers_;
    std::time_t reuse_warned_at_ = 0;  // the second of the last "reusing connections" warning
    // The state first: connections' frames, destroyed with ctx_, still reach it.
    WorkerState state_;
    // Its sockets and timers are touched by its own thread only (other threads post to it),
    // so the reactor's per-descriptor locks go: about 3% of a proxied request's CPU time.
    asio::io_context ctx_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ctx_);
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
    std::vector<std::unique_ptr<UdpListener>> udp_listeners_;
    std::unique_ptr<asio::steady_timer> shutdown_timer_;
    asio::steady_timer timeouts_timer_{ctx_};  // wakes state_.timers
    std::thread thread_;
};

// nginx's ngx_worker_process_init: the file limit, then root given up for good by the
// whole process (no thread runs yet), so no code that serves can act as root. False
// after logging why.
bool become_serving_user(const ServingSetup& setup) {
    const ErrorLog& log = setup.config->error_log;
    if (const auto n = setup.config->ir->worker_rlimit_nofile; n > 0) {
        const rlimit limit{static_cast<rlim_t>(n), static_cast<rlim_t>(n)};
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
            log.write(LogLevel::alert, system_error_text("setrlimit(RLIMIT_NOFILE, " + std::to_string(n) + ")", errno));
    }
    const ServingUser& user = setup.user;
    if (!user.switch_to) return true;
    if (::setgid(user.gid) != 0) {
        log.write(LogLevel::emerg, system_error_text("setgid(" + std::to_string(user.gid) + ")", errno));
        return false;
    }
    // root's supplementary groups must not stay (nginx only logs this failure).
    if (::initgroups(user.name.c_str(), user.gid) != 0) {
        log.write(LogLevel::emerg, system_error_text("initgroups(" + user.name + ", " + std::to_string(user.gid) + ")", errno));
        return false;
    }
    // Every uid becomes the user's, so the kernel clears the permitted, effective and
    // ambient capabilities too.
    if (::setuid(user.uid) != 0) {
        log.write(LogLevel::emerg, system_error_text("setuid(" + std::to_string(user.uid) + ")", errno));
        return false;
    }
    return true;
}

}  // namespace

int run_serving_process(const ServingSetup& setup) {
    set_process_title("worker process");
    const pid_t master = ::getppid();
    if (!become_serving_user(setup)) return 2;
    // A master that is gone (killed) cannot stop this process: it stops itself then.
    // Set after setuid(), which clears it; the master may have died before.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != master) return 0;

    const ActiveConfig& config = *setup.config;
    asio::io_context main_ctx(1);
    std::size_t running = 0;
    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < std::max(1, config.ir->worker_processes); ++i) {
        workers.push_back(std::make_unique<Worker>(setup.config, *setup.connection_numbers));
        for (const auto& [key, l] : *setup.listeners) workers.back()->listen(l);
        ++running;
        workers.back()->start([&main_ctx, &running] {
            asio::post(main_ctx, [&main_ctx, &running] {
                if (--running == 0) main_ctx.stop();
            });
        });
    }
    // Each worker accepts on its own dup(); the master's copies would keep a listening
    // socket open (and filling its queue) after QUIT closed the acceptors.
    for (const auto& [key, l] : *setup.listeners) ::close(l.fd);

    // The lines nginx's worker logs when its master tells it to quit, stop or reopen.
    asio::signal_set signals(main_ctx, SIGQUIT, SIGTERM, SIGINT);
    signals.add(SIGUSR1);
    signals.add(SIGHUP);  // nginx's workers ignore it: reloading is the master's
    sigset_t taken;
    sigemptyset(&taken);
    for (int s : {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&taken, s);
    ::pthread_sigmask(SIG_UNBLOCK, &taken, nullptr);
    bool quitting = false;
    std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGUSR1) {
            config.error_log.write(LogLevel::notice, "reopening logs");
            config.reopen_logs(kKeepOwner);
        } else if (sig == SIGQUIT && !quitting) {
            config.error_log.write(LogLevel::notice, "gracefully shutting down");
            set_process_title("worker process is shutting down");
            quitting = true;
            for (auto& w : workers) w->stop_gracefully();
        } else if (sig == SIGTERM || sig == SIGINT) {
            for (auto& w : workers) w->stop_now();
        }
        signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);
    main_ctx.run();

    config.error_log.write(LogLevel::notice, "exiting");
    for (auto& w : workers) w->stop_now();  // a fast stop reaches every one; done ones ignore it
    for (auto& w : workers) w->join();
    config.error_log.write(LogLevel::notice, "exit");
    // Blocked until _exit: the signal_set's end restores the default actions, and the
    // master's QUIT on shutdown may reach a process already exiting after a reload (nginx's
    // master skips those; a default QUIT here would be an "exited on signal 3" alert).
    ::pthread_sigmask(SIG_BLOCK, &taken, nullptr);
    return 0;
}

}  // namespace ngxlite::runtime
