#include "runtime/core/master.hpp"

#include "runtime/core/process_title.hpp"
#include "runtime/core/serving_process.hpp"
#include "runtime/io/unix_socket.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

namespace ngxlite::runtime {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

void console(const std::string& line) {
    const std::string out = "ngxlite: " + line + "\n";
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, out.data(), out.size());
}

// What each directive gets (served, inert, warned about, refused) is parser/support.tsv's.
// What this runtime's proxy does not do yet: refused, never served differently.
std::optional<std::string> unsupported_proxy(const ir::Location& l) {
    if (l.proxy) {
        if (l.proxy->bind && l.proxy->bind->transparent)
            return "the \"transparent\" parameter of \"proxy_bind\" is not implemented by ngxlite yet" + l.proxy->bind->where.in();
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
                if (l.udp && (server.pass_has_variables || server.upload_rate.value || server.download_rate.value))
                    return refuse("proxy_pass or a rate with variables in a \"udp\" server is not implemented by ngxlite yet" +
                                  l.where.in());
                if (l.udp && l.endpoint.unix_socket)
                    return refuse("the \"udp\" parameter of a unix domain socket \"listen\" is not implemented by ngxlite yet" +
                                  l.where.in());
                if (l.proxy_protocol)
                    return refuse("the \"proxy_protocol\" parameter of \"listen\" is not implemented by ngxlite yet" + l.where.in());
            }
            if (server.bind && server.bind->transparent)
                return refuse("the \"transparent\" parameter of \"proxy_bind\" is not implemented by ngxlite yet" + server.bind->where.in());
        }
    for (const auto& u : cfg.unimplemented) {
        const std::string subject = u.subject.empty() ? "\"" + u.name + "\"" : u.subject;
        if (!u.refused) {
            log.write(LogLevel::warn, subject + " is not implemented by ngxlite and is ignored" + u.where.in());
            continue;
        }
        return refuse(subject + " is not implemented by ngxlite yet" + u.where.in());
    }
    return false;
}

// A listen address as bind() takes it.
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t size = 0;
};
SocketAddress socket_address(const ir::Endpoint& e) {
    SocketAddress out;
    if (e.unix_socket) {
        unix_address(e.ip, reinterpret_cast<sockaddr_un&>(out.storage));
        out.size = sizeof(sockaddr_un);
        return out;
    }
    const tcp::endpoint ep(asio::ip::make_address(e.ip), e.port);
    std::memcpy(&out.storage, ep.data(), ep.size());
    out.size = static_cast<socklen_t>(ep.size());
    return out;
}

// A unix socket's file goes with its socket (ngx_close_listening_sockets, and a reload
// that drops it: "deleting socket PATH"); a TCP socket just closes.
void close_listener(const Listener& l, const ErrorLog& log, bool dropped_by_reload) {
    ::close(l.fd);
    if (!l.listen.endpoint.unix_socket) return;
    if (dropped_by_reload) log.write(LogLevel::warn, "deleting socket " + l.listen.endpoint.ip);
    if (::unlink(l.listen.endpoint.ip.c_str()) != 0)
        log.write(LogLevel::emerg, system_error_text("unlink() " + l.listen.endpoint.ip, errno));
}

// ngx_configure_listening_sockets: the listen options that are set, on a socket bound now
// or taken over by a reload; a refusal is nginx's alert, and serving goes on.
void configure_listener(int fd, const ir::Listen& l) {
    const auto set = [&](int level, int name, const char* text, int value) {
        if (::setsockopt(fd, level, name, &value, sizeof value) != 0) {
            const int err = errno;
            console("[alert] setsockopt(" + std::string(text) + ", " + std::to_string(value) + ") " + l.endpoint.text() +
                    " failed (" + std::to_string(err) + ": " + std::strerror(err) + "), ignored");
        }
    };
    if (l.rcvbuf != -1) set(SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", l.rcvbuf);
    if (l.sndbuf != -1) set(SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", l.sndbuf);
    if (l.keepalive) set(SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", l.keepalive == 1 ? 1 : 0);
    if (l.keepidle) set(IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", l.keepidle);
    if (l.keepintvl) set(IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", l.keepintvl);
    if (l.keepcnt) set(IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", l.keepcnt);
    if (l.fastopen != -1) set(IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN", l.fastopen);
    // nginx's one second: how long a connection waited cannot be known.
    if (l.deferred) set(IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", 1);
}

// Binds every address nginx would bind (a port's wildcard covers its other addresses);
// addresses already in `held` are taken over, not bound again (a reload).
std::optional<std::string> bind_listeners(const ir::Config& cfg, const Listeners& held, Listeners& out) {
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
                covered = covered || (w.wildcard && w.endpoint.port == l.endpoint.port && w.endpoint.ipv6 == l.endpoint.ipv6 &&
                                      w.udp == l.udp);
        if (covered || out.count(l.key())) continue;
        if (auto it = held.find(l.key()); it != held.end()) {
            out[it->first] = it->second;
            configure_listener(it->second.fd, l);
            continue;
        }
        const int family = l.endpoint.unix_socket ? AF_UNIX : l.endpoint.ipv6 ? AF_INET6 : AF_INET;
        const int fd = ::socket(family, (l.udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return "socket() " + l.endpoint.text() + " failed (" + std::to_string(errno) + ": " + std::strerror(errno) + ")";
        const SocketAddress address = socket_address(l.endpoint);
        if (family != AF_UNIX) {
            int one = 1;
            ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (l.reuseport) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        }
        if (family == AF_INET6) {
            int v6only = l.ipv6only ? 1 : 0;
            ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        }
        int err = 0;
        for (int tries = 5; tries > 0; --tries) {  // nginx tries five times, 500 ms apart
            if (::bind(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.size) == 0) {
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
        if (family == AF_UNIX)
            if (const std::string chmod_error = open_unix_socket_file(l.endpoint.ip); !chmod_error.empty())
                console("[emerg] " + chmod_error);
        if (!l.udp && ::listen(fd, l.backlog) != 0) {
            const int e = errno;
            ::close(fd);
            return "listen() to " + l.endpoint.text() + ", backlog " + std::to_string(l.backlog) + " failed (" +
                   std::to_string(e) + ": " + std::strerror(e) + ")";
        }
        configure_listener(fd, l);
        out[l.key()] = {l, fd};
    }
    return std::nullopt;
}

// nginx's ngx_event_module_init, for each configuration the master loads: the event
// method (Asio's reactor is epoll) and whether worker_connections fits the open files.
void log_event_init(const ActiveConfig& active) {
    const ErrorLog& log = active.error_log;
    log.write(LogLevel::notice, "using the \"epoll\" event method");
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) != 0) {
        log.write(LogLevel::alert, system_error_text("getrlimit(RLIMIT_NOFILE)", errno) + ", ignored");
        return;
    }
    const auto connections = static_cast<rlim_t>(active.ir->worker_connections);
    const auto nofile = static_cast<rlim_t>(active.ir->worker_rlimit_nofile);  // 0: not set
    if (connections > r.rlim_cur && (nofile == 0 || connections > nofile))
        log.write(LogLevel::warn, std::to_string(connections) + " worker_connections exceed open file resource limit: " +
                                      std::to_string(nofile ? nofile : r.rlim_cur));
}

// nginx's ngx_os_status, once at start.
void log_os_status(const ErrorLog& log) {
    log.write(LogLevel::notice, "nginx/1.22.1 (ngxlite/" NGXLITE_VERSION ")");
    if (utsname u{}; ::uname(&u) == 0) log.write(LogLevel::notice, std::string("OS: ") + u.sysname + " " + u.release);
    if (rlimit r{}; ::getrlimit(RLIMIT_NOFILE, &r) == 0)
        log.write(LogLevel::notice, "getrlimit(RLIMIT_NOFILE): " + std::to_string(r.rlim_cur) + ":" + std::to_string(r.rlim_max));
}

void print_messages(const LoadedConfig& r) {
    for (const auto& m : r.messages) console(m.text);
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

// The signals the master takes, with sigwaitinfo() (blocked, never delivered): its
// serving processes inherit them blocked and take theirs with handlers.
sigset_t master_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGCHLD}) sigaddset(&set, s);
    return set;
}

// nginx's master process: it keeps root (when started so), the configuration, the log
// files and the listening sockets, and a serving process that serves with them; one that
// dies unasked is started again, a reload starts a new one and lets the old one finish.
class Master {
public:
    Master(ConfigLoader load, std::shared_ptr<const ActiveConfig> config, Listeners listeners, std::string pid_path)
        : load_(std::move(load)), config_(std::move(config)), user_(ServingUser::of(*config_->ir)),
          listeners_(std::move(listeners)), pid_path_(std::move(pid_path)), connection_numbers_(shared_connection_counter()) {}

    // Until QUIT, TERM or INT and the serving processes' end; the exit status.
    int run() {
        if (!connection_numbers_) {
            log().write(LogLevel::emerg, system_error_text("mmap(MAP_ANON|MAP_SHARED, 8)", errno));
            return 1;
        }
        set_process_title("master process " + original_command_line());
        start_serving();
        const sigset_t signals = master_signals();
        // TERM: nginx's master sends it again after 50, 100, ... ms, and KILL once the
        // delay passes a second.
        long kill_delay_ms = 0;
        while (stopping_ == Stopping::no || !children_.empty()) {
            siginfo_t info{};
            int sig;
            if (stopping_ == Stopping::fast) {
                const timespec delay{kill_delay_ms / 1000, (kill_delay_ms % 1000) * 1000000};
                sig = ::sigtimedwait(&signals, &info, &delay);
                if (sig < 0 && errno == EAGAIN) {
                    kill_delay_ms *= 2;
                    signal_children(kill_delay_ms > 1000 ? SIGKILL : SIGTERM);
                    continue;
                }
            } else {
                sig = ::sigwaitinfo(&signals, &info);
            }
            if (sig < 0) continue;  // EINTR
            log_signal(sig, info);
            switch (sig) {
            case SIGCHLD: reap(); break;
            case SIGHUP:
                if (stopping_ == Stopping::no) reload();
                break;
            case SIGUSR1:
                log().write(LogLevel::notice, "reopening logs");
                config_->reopen_logs(user_.switch_to ? user_.uid : kKeepOwner);
                signal_children(SIGUSR1);
                break;
            case SIGQUIT:
                if (stopping_ != Stopping::no) break;
                stopping_ = Stopping::gracefully;
                stop_listening();
                signal_children(SIGQUIT);
                break;
            default:  // TERM, INT
                if (stopping_ == Stopping::fast) break;
                stopping_ = Stopping::fast;
                kill_delay_ms = 50;
                stop_listening();
                signal_children(SIGTERM);
            }
        }
        ::unlink(pid_path_.c_str());
        log().write(LogLevel::notice, "exit");
        return 0;
    }

private:
    enum class Stopping { no, gracefully, fast };

    const ErrorLog& log() const { return config_->error_log; }

    // nginx's ngx_signal_handler line, for the master.
    void log_signal(int sig, const siginfo_t& info) const {
        const char* action = sig == SIGHUP ? ", reconfiguring" : sig == SIGUSR1 ? ", reopening logs"
                           : sig == SIGQUIT ? ", shutting down" : sig == SIGCHLD ? "" : ", exiting";
        log().write(LogLevel::notice, "signal " + std::to_string(sig) + " (SIG" + ::sigabbrev_np(sig) + ") received" +
                                          (info.si_pid ? " from " + std::to_string(info.si_pid) : "") + action);
    }

    void start_serving() {
        log().write(LogLevel::notice, "start worker processes");
        spawn();
    }

    // A serving process for the current configuration; it inherits all the master made
    // (as root) in memory and descriptors, and gives up root before it serves.
    void spawn() {
        const pid_t pid = ::fork();
        if (pid < 0) {
            const int err = errno;
            log().write(LogLevel::alert, "fork() failed while spawning \"worker process\" (" + std::to_string(err) + ": " +
                                             std::strerror(err) + ")");
            return;
        }
        if (pid == 0) ::_exit(run_serving_process({config_, &listeners_, user_, connection_numbers_}));
        log().write(LogLevel::notice, "start worker process " + std::to_string(pid));
        children_.insert(pid);
        serving_ = pid;
    }

    void signal_children(int sig) const {
        for (const pid_t pid : children_)
            if (::kill(pid, sig) != 0 && errno != ESRCH)
                log().write(LogLevel::alert, system_error_text("kill(" + std::to_string(pid) + ", " + std::to_string(sig) + ")", errno));
    }

    // nginx's ngx_process_get_status and ngx_reap_children: each end logged, the current
    // serving process started again unless it ended with status 2 (it cannot run) or the
    // master is stopping.
    void reap() {
        for (;;) {
            int status = 0;
            const pid_t pid = ::waitpid(-1, &status, WNOHANG);
            if (pid <= 0) return;
            children_.erase(pid);
            const std::string who = "worker process " + std::to_string(pid);
            if (WIFSIGNALED(status))
                log().write(LogLevel::alert, who + " exited on signal " + std::to_string(WTERMSIG(status)) +
                                                 (WCOREDUMP(status) ? " (core dumped)" : ""));
            else
                log().write(LogLevel::notice, who + " exited with code " + std::to_string(WEXITSTATUS(status)));
            if (pid != serving_) continue;  // an old configuration's, told to QUIT
            serving_ = 0;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
                log().write(LogLevel::alert, who + " exited with fatal code 2 and cannot be respawned");
                continue;
            }
            if (stopping_ == Stopping::no) spawn();
        }
    }

    // HUP: the new configuration is loaded here, as root; a broken one is logged and the
    // serving process goes on. Else a new serving process takes over the listening
    // sockets and the old one finishes what it has (nginx's old worker processes).
    void reload() {
        log().write(LogLevel::notice, "reconfiguring");
        const LoadedConfig next = load_();
        for (const auto& m : next.messages)
            log().write(m.level == LogLevel::warn ? LogLevel::warn : LogLevel::emerg, m.text.substr(m.text.find("] ") + 2));
        if (!next.config) return;
        auto candidate = std::make_shared<const ActiveConfig>(next.config);
        if (refuse_unimplemented(*next.config, candidate->error_log)) return;
        if (auto err = candidate->open_error()) {
            log().write(LogLevel::emerg, *err);
            return;
        }
        Listeners wanted;
        if (auto err = bind_listeners(*next.config, listeners_, wanted)) {
            log().write(LogLevel::emerg, *err);
            for (auto& [key, l] : wanted)
                if (!listeners_.count(key)) ::close(l.fd);
            return;
        }
        for (auto& [key, l] : listeners_)
            if (!wanted.count(key)) close_listener(l, log(), true);
        listeners_ = std::move(wanted);
        log_event_init(*candidate);
        config_ = std::move(candidate);
        user_ = ServingUser::of(*config_->ir);
        const pid_t old = serving_;
        start_serving();
        if (old && serving_ != old && ::kill(old, SIGQUIT) != 0)
            log().write(LogLevel::alert, system_error_text("kill(" + std::to_string(old) + ", " + std::to_string(SIGQUIT) + ")", errno));
    }

    void stop_listening() {
        for (auto& [key, l] : listeners_) close_listener(l, log(), false);
        listeners_.clear();
    }

    ConfigLoader load_;
    std::shared_ptr<const ActiveConfig> config_;
    ServingUser user_;
    Listeners listeners_;
    const std::string pid_path_;
    std::atomic<std::uint64_t>* connection_numbers_;
    pid_t serving_ = 0;        // the current configuration's serving process; 0: none
    std::set<pid_t> children_;  // every serving process not reaped yet, old ones included
    Stopping stopping_ = Stopping::no;
};

// nginx's ngx_log_init: the -e file is opened before the configuration is read, and what
// loading it says (warnings, the error that stops it) goes there as well as to stderr.
void log_messages(const std::string& path, const LoadedConfig& r) {
    if (path.empty() || path == "stderr") return;
    const ErrorLog log({{path, "notice", {}}});
    if (auto err = log.open_error()) {
        console("[alert] could not open error log file: " + *err);
        return;
    }
    for (const auto& m : r.messages) log.write(m.level, m.text.substr(m.text.find(']') + 2));
}

}  // namespace

int run_server(const ConfigLoader& load, const std::string& startup_error_log) {
    const LoadedConfig loaded = load();
    print_messages(loaded);
    log_messages(startup_error_log, loaded);
    if (!loaded.config) return 1;
    auto active = std::make_shared<const ActiveConfig>(loaded.config);
    if (refuse_unimplemented(*loaded.config, active->error_log)) return 1;
    if (auto err = active->open_error()) {
        console("[emerg] " + *err);
        return 1;
    }
    Listeners listeners;
    if (auto err = bind_listeners(*loaded.config, {}, listeners)) {
        console("[emerg] " + *err);
        active->error_log.write(LogLevel::emerg, *err);
        return 1;
    }
    log_event_init(*active);
    log_os_status(active->error_log);
    if (loaded.config->daemon && !daemonize(active->error_log.file_fd())) {
        console("[emerg] daemon() failed");
        return 1;
    }
    const sigset_t signals = master_signals();
    ::sigprocmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    const std::string pid_path = loaded.config->pid_path;
    if (!write_pid(pid_path)) {
        const std::string msg = system_error_text("open() \"" + pid_path + "\"", errno);
        console("[emerg] " + msg);
        active->error_log.write(LogLevel::emerg, msg);
        return 1;
    }
    return Master(load, std::move(active), std::move(listeners), pid_path).run();
}

int send_signal(const ConfigLoader& load, const std::string& signal) {
    const LoadedConfig loaded = load();
    if (!loaded.config) {
        print_messages(loaded);
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
