#include "runtime/server.hpp"

#include "runtime/active_config.hpp"
#include "runtime/http_session.hpp"
#include "runtime/stream_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <list>
#include <map>
#include <thread>

namespace ngxlite::runtime {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::atomic<std::uint64_t> g_connection_ids{0};

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

void console(const std::string& line) {
    const std::string out = "ngxlite: " + line + "\n";
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, out.data(), out.size());
}

// Directives the runtime acts on are in parser/runtime_support.cpp; the rest refuse to
// start, except encoding-only filters and performance hints, which warn (README.md).
// What this runtime's proxy does not do yet: refused, never served differently.
std::optional<std::string> unsupported_proxy(const ir::Location& l) {
    if (l.proxy) {
        if (l.proxy->upstream_index < 0 && !l.proxy->pass_has_variables) return "proxy_pass to a unix socket is not implemented by ngxlite yet" + l.where.in();
    }
    for (const auto& child : l.locations)
        if (auto err = unsupported_proxy(child)) return err;
    return std::nullopt;
}

bool refuse_unimplemented(const ir::Config& cfg, const ErrorLog& log) {
    const auto refuse = [&log](const std::string& err) {
        log.write(LogLevel::emerg, err);
        console("[emerg] " + err);
        return true;
    };
    if (cfg.http) {
        for (const auto& a : cfg.http->addresses)
            if (a.listen.http2) return refuse("the \"http2\" parameter of \"listen\" is not implemented by ngxlite yet" + a.listen.where.in());
        for (const auto& server : cfg.http->servers) {
            for (const auto& l : server.locations)
                if (auto err = unsupported_proxy(l)) return refuse(*err);
        }
    }
    if (cfg.stream)
        for (const auto& server : cfg.stream->servers) {
            for (const auto& l : server.listens) {
                if (l.udp) return refuse("the \"udp\" parameter of \"listen\" is not implemented by ngxlite yet" + l.where.in());
                if (l.proxy_protocol)
                    return refuse("the \"proxy_protocol\" parameter of \"listen\" is not implemented by ngxlite yet" + l.where.in());
            }
            if (!server.proxy_pass.empty() && server.upstream_index < 0 && !server.pass_has_variables)
                return refuse("\"proxy_pass\" to a unix socket in stream is not implemented by ngxlite yet" + server.where.in());
            if (server.bind && server.bind->transparent)
                return refuse("the \"transparent\" parameter of \"proxy_bind\" is not implemented by ngxlite yet" + server.bind->where.in());
        }
    static constexpr std::string_view warn_only[] = {"gzip", "gzip_types", "gzip_vary", "gzip_proxied",
                                                     "gzip_comp_level", "gzip_min_length", "gzip_disable",
                                                     "gzip_http_version", "gzip_buffers", "gunzip", "charset",
                                                     "sendfile", "tcp_nopush", "tcp_nodelay", "open_file_cache",
                                                     "server_names_hash_bucket_size", "server_names_hash_max_size",
                                                     "types_hash_max_size", "types_hash_bucket_size", "multi_accept",
                                                     "use", "accept_mutex", "pcre_jit", "open_file_cache_valid",
                                                     "open_file_cache_min_uses", "open_file_cache_errors",
                                                     "proxy_buffering", "proxy_buffers", "proxy_buffer_size",
                                                     "proxy_busy_buffers_size", "proxy_max_temp_file_size",
                                                     "proxy_temp_file_write_size", "proxy_temp_path",
                                                     "client_body_temp_path", "client_body_buffer_size",
                                                     "ssl_buffer_size", "ssl_early_data", "ssl_stapling",
                                                     "ssl_stapling_verify"};
    for (const auto& u : cfg.unimplemented) {
        if (std::find(std::begin(warn_only), std::end(warn_only), u.name) != std::end(warn_only)) {
            log.write(LogLevel::warn, "\"" + u.name + "\" is not implemented by ngxlite and is ignored" + u.where.in());
            continue;
        }
        return refuse("\"" + u.name + "\" is not implemented by ngxlite yet" + u.where.in());
    }
    return false;
}

struct Listener {
    ir::Listen listen;
    int fd = -1;
};

// Binds every address nginx would bind (a port's wildcard covers its other addresses);
// addresses already in `held` are taken over, not bound again (a reload).
std::optional<std::string> bind_listeners(const ir::Config& cfg, const std::map<std::string, Listener>& held,
                                          std::map<std::string, Listener>& out) {
    std::vector<ir::Listen> all;
    if (cfg.http)
        for (const auto& a : cfg.http->addresses) all.push_back(a.listen);
    if (cfg.stream)
        for (const auto& server : cfg.stream->servers)
            for (const auto& l : server.listens) all.push_back(l);
    for (const auto& l : all) {
        bool covered = false;
        if (!l.wildcard && !l.bind)
            for (const auto& w : all)
                covered = covered || (w.wildcard && w.endpoint.port == l.endpoint.port && w.endpoint.ipv6 == l.endpoint.ipv6);
        if (covered || out.count(l.endpoint.text())) continue;
        if (auto it = held.find(l.endpoint.text()); it != held.end()) {
            out[it->first] = it->second;
            continue;
        }
        const int family = l.endpoint.ipv6 ? AF_INET6 : AF_INET;
        const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return "socket() " + l.endpoint.text() + " failed (" + std::to_string(errno) + ": " + std::strerror(errno) + ")";
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (l.reuseport) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        tcp::endpoint ep(asio::ip::make_address(l.endpoint.ip), l.endpoint.port);
        if (family == AF_INET6) {
            int v6only = l.ipv6only ? 1 : 0;
            ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        }
        int err = 0;
        for (int tries = 5; tries > 0; --tries) {  // nginx tries five times, 500 ms apart
            if (::bind(fd, ep.data(), static_cast<socklen_t>(ep.size())) == 0) {
                err = 0;
                break;
            }
            err = errno;
            if (err != EADDRINUSE) break;
            console("[emerg] bind() to " + l.endpoint.text() + " failed (" + std::to_string(err) + ": " + std::strerror(err) + ")");
            if (tries > 1) std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        if (err) {
            ::close(fd);
            return "bind() to " + l.endpoint.text() + " failed (" + std::to_string(err) + ": " + std::strerror(err) + ")";
        }
        if (::listen(fd, l.backlog) != 0) {
            const int e = errno;
            ::close(fd);
            return "listen() to " + l.endpoint.text() + ", backlog " + std::to_string(l.backlog) + " failed (" +
                   std::to_string(e) + ": " + std::strerror(e) + ")";
        }
        out[l.endpoint.text()] = {l, fd};
    }
    return std::nullopt;
}

// The user workers run as when ngxlite starts as root (`user`), as nginx's worker
// processes do. Linux keeps credentials per thread: set with raw system calls (glibc's
// wrappers would change every thread), only the worker threads drop them, and the main
// thread keeps root for reloads, new listening ports and reopening logs, as nginx's master.
struct WorkerCredentials {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    bool drop = false;

    static WorkerCredentials of(const ir::Config& cfg) {
        WorkerCredentials c;
        if (::geteuid() != 0) return c;
        const passwd* pw = ::getpwnam(cfg.user.c_str());
        const group* gr = ::getgrnam(cfg.group.c_str());
        if (!pw || !gr) return c;
        c.uid = pw->pw_uid;
        c.gid = gr->gr_gid;
        int n = 64;
        c.groups.resize(static_cast<std::size_t>(n));
        if (::getgrouplist(cfg.user.c_str(), c.gid, c.groups.data(), &n) < 0) n = 0;
        c.groups.resize(static_cast<std::size_t>(std::max(n, 0)));
        c.drop = true;
        return c;
    }
    // On the calling thread only.
    bool apply() const {
        if (!drop) return true;
        return ::syscall(SYS_setgroups, groups.size(), groups.data()) == 0 && ::syscall(SYS_setresgid, gid, gid, gid) == 0 &&
               ::syscall(SYS_setresuid, uid, uid, uid) == 0;
    }
};

// One worker thread: its own io_context, its own acceptors on the shared sockets, and
// the configuration new connections start with. Touched only from its own thread.
class Worker {
public:
    explicit Worker(std::shared_ptr<const ActiveConfig> config) {
        state_.config = std::move(config);
        state_.timers.attach(&timeouts_timer_);
        state_.reload_timers = &reload_timers_;
    }
    ~Worker() {  // connections' last words must not reach the timers
        state_.shutdown_timer = nullptr;
        state_.reload_timers = nullptr;
        state_.timers.attach(nullptr);
    }

    void listen(const Listener& l) {
        asio::post(ctx_, [this, fd = ::dup(l.fd), proto = l.listen.endpoint.ipv6 ? tcp::v6() : tcp::v4(),
                          key = l.listen.endpoint.text()] {
            auto acceptor = std::make_unique<tcp::acceptor>(ctx_, proto, fd);
            tcp::acceptor& ref = *acceptor;
            acceptors_[key] = std::move(acceptor);
            asio::co_spawn(ctx_, accept_loop(ref), asio::detached);
        });
    }
    void unlisten(const std::string& key) {
        asio::post(ctx_, [this, key] {
            if (auto it = acceptors_.find(key); it != acceptors_.end()) {
                it->second->close();
                acceptors_.erase(it);
            }
        });
    }
    // A reload: new connections take `config`; stream sessions of the old one go on, for
    // at most its worker_shutdown_timeout (nginx's old workers shut down with it).
    void set_config(std::shared_ptr<const ActiveConfig> config) {
        asio::post(ctx_, [this, config = std::move(config)] {
            const ir::Msec limit = state_.config->ir->worker_shutdown_timeout;
            state_.config = config;
            if (limit.count() <= 0 || state_.sessions.empty()) return;
            auto& timer = reload_timers_.emplace_back(ctx_, limit);
            timer.async_wait([this, it = std::prev(reload_timers_.end()), generation = config->generation](const boost::system::error_code& ec) {
                if (!ec) state_.end_sessions_before(generation);
                reload_timers_.erase(it);
            });
        });
    }
    // QUIT: stop accepting and close idle connections; run() returns once the requests in
    // flight are done, or after worker_shutdown_timeout (0: no limit) when they are not.
    void stop_gracefully(ir::Msec limit) {
        asio::post(ctx_, [this, limit] {
            for (auto& [key, a] : acceptors_) a->close();
            acceptors_.clear();
            if (limit.count() > 0 && state_.connections > 0) {
                shutdown_timer_ = std::make_unique<asio::steady_timer>(ctx_, limit);
                shutdown_timer_->async_wait([this](const boost::system::error_code& ec) {
                    if (ec) return;
                    // Stream sessions end as nginx ends them (a log line each); HTTP ones at once.
                    const std::size_t ended = state_.end_sessions_before(UINT64_MAX);
                    if (state_.connections > ended) ctx_.stop();
                });
                state_.shutdown_timer = shutdown_timer_.get();
            }
            state_.stop();
            work_.reset();
        });
    }
    void stop_now() { ctx_.stop(); }
    void start(const WorkerCredentials& credentials) {
        thread_ = std::thread([this, credentials] {
            if (!credentials.apply()) {
                state_.config->error_log.write(LogLevel::emerg, "setuid(" + std::to_string(credentials.uid) + ") failed (" +
                                                                   std::to_string(errno) + ": " + std::strerror(errno) + ")");
                return;
            }
            ctx_.run();
        });
    }
    void join() {
        if (thread_.joinable()) thread_.join();
    }

private:
    asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
        // A connection's local address is its listener's unless that is a wildcard: asked
        // of the kernel only then. The peer's comes with accept().
        boost::system::error_code bec;
        const tcp::endpoint bound = acceptor.local_endpoint(bec);
        const bool wildcard = bec || bound.address().is_unspecified();
        tcp::endpoint remote;
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(ctx_, remote, asio::as_tuple(asio::use_awaitable));
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
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
            socket.set_option(tcp::no_delay(true), aec);  // tcp_nodelay on, nginx's default
            // Reads at once (serve_connection), splice(2) and OpenSSL on it never block.
            socket.non_blocking(true, aec);
            ConnectionInfo conn = connection_info(local, remote, ++g_connection_ids);
            const ir::Endpoint address = endpoint_of(local);
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
        if (used + limit / 16 >= limit && !state_.idle.empty()) {
            if (const std::time_t now = std::time(nullptr); now != reuse_warned_at_) {
                reuse_warned_at_ = now;
                state_.config->error_log.write(LogLevel::warn, std::to_string(limit) +
                                                                   " worker_connections are not enough, reusing connections");
            }
            std::size_t reusable = 0;  // counted up to where it no longer changes the number closed
            for (auto it = state_.idle.begin(); it != state_.idle.end() && reusable < 256; ++it) ++reusable;
            for (const std::size_t n = std::max<std::size_t>(std::min<std::size_t>(32, reusable / 8), 1); closed < n; ++closed) {
                TimedStream& oldest = state_.idle.front();
                oldest.unlist();
                oldest.close();  // its wait ends, and the connection with it
            }
        }
        if (used < limit || closed > 0) return true;
        state_.config->error_log.write(LogLevel::alert, std::to_string(limit) + " worker_connections are not enough");
        return false;
    }

    // The state first: connections' frames, destroyed with ctx_, still reach it.
    WorkerState state_;
    // Its sockets and timers are touched by its own thread only (other threads post to it),
    // so the reactor's per-descriptor locks go: about 3% of a proxied request's CPU time.
    asio::io_context ctx_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ctx_);
    std::map<std::string, std::unique_ptr<tcp::acceptor>> acceptors_;
    std::unique_ptr<asio::steady_timer> shutdown_timer_;
    std::list<asio::steady_timer> reload_timers_;  // one per reload while old sessions last
    asio::steady_timer timeouts_timer_{ctx_};  // wakes state_.timers
    std::time_t reuse_warned_at_ = 0;          // the second of the last "reusing connections" warning
    std::thread thread_;
};

void print_diagnostics(const conf::LoadResult& r) {
    for (const auto& d : r.diagnostics) console(d.format());
}

bool write_pid(const std::string& path) {
    std::ofstream out(path, std::ios::trunc);
    if (!out) return false;
    out << ::getpid() << "\n";
    return static_cast<bool>(out);
}

// nginx's daemon: detached, stdin and stdout on /dev/null, stderr on the error log file
// when it has one (so nothing holds the caller's terminal or pipes).
bool daemonize(int error_log_fd) {
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid > 0) ::_exit(0);
    if (::setsid() == -1) return false;
    ::umask(0);
    const int fd = ::open("/dev/null", O_RDWR);
    if (fd >= 0) {
        ::dup2(fd, STDIN_FILENO);
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(error_log_fd >= 0 ? error_log_fd : fd, STDERR_FILENO);
        if (fd > STDERR_FILENO) ::close(fd);
    }
    return true;
}

}  // namespace

int run_server(const conf::LoadOptions& options) {
    conf::LoadResult loaded = conf::load(options);
    print_diagnostics(loaded);
    if (!loaded.config) return 1;
    auto active = std::make_shared<const ActiveConfig>(loaded.config);
    if (refuse_unimplemented(*loaded.config, active->error_log)) return 1;
    if (auto err = active->open_error()) {
        console("[emerg] " + *err);
        return 1;
    }

    std::map<std::string, Listener> listeners;
    if (auto err = bind_listeners(*loaded.config, {}, listeners)) {
        console("[emerg] " + *err);
        active->error_log.write(LogLevel::emerg, *err);
        return 1;
    }
    if (loaded.config->daemon && !daemonize(active->error_log.file_fd())) {
        console("[emerg] daemon() failed");
        return 1;
    }
    // Signals are taken by the main thread only: block them before workers start.
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&set, s);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    const std::string pid_path = loaded.config->pid_path;
    if (!write_pid(pid_path)) {
        const std::string msg = "open() \"" + pid_path + "\" failed (" + std::to_string(errno) + ": " + std::strerror(errno) + ")";
        console("[emerg] " + msg);
        active->error_log.write(LogLevel::emerg, msg);
        return 1;
    }

    if (const auto n = loaded.config->worker_rlimit_nofile; n > 0) {
        const rlimit limit{static_cast<rlim_t>(n), static_cast<rlim_t>(n)};
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
            active->error_log.write(LogLevel::alert, "setrlimit(RLIMIT_NOFILE, " + std::to_string(n) + ") failed (" +
                                                         std::to_string(errno) + ": " + std::strerror(errno) + ")");
    }
    std::vector<std::unique_ptr<Worker>> workers;
    const WorkerCredentials credentials = WorkerCredentials::of(*loaded.config);
    for (int i = 0; i < std::max(1, loaded.config->worker_processes); ++i) {
        workers.push_back(std::make_unique<Worker>(active));
        for (const auto& [key, l] : listeners) workers.back()->listen(l);
        workers.back()->start(credentials);
    }

    asio::io_context main_ctx(1);
    asio::signal_set signals(main_ctx, SIGHUP, SIGQUIT, SIGTERM);
    signals.add(SIGINT);
    signals.add(SIGUSR1);
    ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    bool graceful = false;
    std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        switch (sig) {
        case SIGHUP: {
            active->error_log.write(LogLevel::notice, "signal 1 (SIGHUP) received, reconfiguring");
            conf::LoadResult next = conf::load(options);
            for (const auto& d : next.diagnostics)
                active->error_log.write(d.level == conf::Level::warn ? LogLevel::warn : LogLevel::emerg,
                                        d.format().substr(d.format().find("] ") + 2));
            if (!next.config) break;  // keep serving the old configuration
            auto candidate = std::make_shared<const ActiveConfig>(next.config);
            if (refuse_unimplemented(*next.config, candidate->error_log)) break;
            if (auto err = candidate->open_error()) {
                active->error_log.write(LogLevel::emerg, *err);
                break;
            }
            std::map<std::string, Listener> wanted;
            if (auto err = bind_listeners(*next.config, listeners, wanted)) {
                active->error_log.write(LogLevel::emerg, *err);
                for (auto& [key, l] : wanted)
                    if (!listeners.count(key)) ::close(l.fd);
                break;
            }
            active = candidate;
            for (auto& w : workers) w->set_config(active);
            for (auto& [key, l] : wanted) {
                if (listeners.count(key)) continue;  // already listening there
                listeners[key] = l;
                for (auto& w : workers) w->listen(l);
            }
            for (auto it = listeners.begin(); it != listeners.end();) {
                if (wanted.count(it->first)) {
                    ++it;
                    continue;
                }
                for (auto& w : workers) w->unlisten(it->first);
                ::close(it->second.fd);
                it = listeners.erase(it);
            }
            break;
        }
        case SIGUSR1:
            active->error_log.write(LogLevel::notice, "signal 10 (SIGUSR1) received, reopening logs");
            active->reopen_logs();
            break;
        case SIGQUIT:
            active->error_log.write(LogLevel::notice, "signal 3 (SIGQUIT) received, shutting down");
            graceful = true;
            main_ctx.stop();
            return;
        default:
            active->error_log.write(LogLevel::notice, "signal " + std::to_string(sig) + " received, exiting");
            main_ctx.stop();
            return;
        }
        signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);
    main_ctx.run();

    for (auto& [key, l] : listeners) ::close(l.fd);
    if (graceful) {
        for (auto& w : workers) w->stop_gracefully(active->ir->worker_shutdown_timeout);
    } else {
        for (auto& w : workers) w->stop_now();
    }
    for (auto& w : workers) w->join();
    ::unlink(pid_path.c_str());
    active->error_log.write(LogLevel::notice, "exit");
    return 0;
}

int send_signal(const conf::LoadOptions& options, const std::string& signal) {
    conf::LoadResult loaded = conf::load(options);
    if (!loaded.config) {
        print_diagnostics(loaded);
        return 1;
    }
    const std::string& path = loaded.config->pid_path;
    std::ifstream in(path);
    long pid = 0;
    if (!(in >> pid) || pid <= 0) {
        console("[error] open() \"" + path + "\" failed (2: No such file or directory)");
        return 1;
    }
    const int sig = signal == "stop" ? SIGTERM : signal == "quit" ? SIGQUIT : signal == "reopen" ? SIGUSR1 : SIGHUP;
    if (::kill(static_cast<pid_t>(pid), sig) != 0) {
        console("[alert] kill(" + std::to_string(pid) + ", " + std::to_string(sig) + ") failed (" + std::to_string(errno) +
                ": " + std::strerror(errno) + ")");
        return 1;
    }
    return 0;
}

}  // namespace ngxlite::runtime
