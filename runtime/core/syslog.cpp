#include "runtime/core/syslog.hpp"

#include "runtime/core/logs.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace ngxlite::runtime {

namespace {

// nginx's cycle->hostname: gethostname(), lowercased.
const std::string& hostname() {
    static const std::string name = [] {
        char buf[256] = {};
        if (::gethostname(buf, sizeof buf - 1) != 0) return std::string();
        std::string s(buf);
        for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
    }();
    return name;
}

// The tail nginx's ngx_syslog_log_error gives the peer's own alerts.
std::string tail(const ir::SyslogPeer& peer) { return " while logging to syslog, server: " + peer.server.text(); }

}  // namespace

std::string syslog_header(const ir::SyslogPeer& peer, int severity, std::time_t now) {
    static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    ::localtime_r(&now, &tm);
    char head[64];
    std::snprintf(head, sizeof head, "<%d>%s %2d %02d:%02d:%02d ", peer.facility * 8 + severity, months[tm.tm_mon], tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return head + (peer.nohostname ? std::string() : hostname() + " ") + peer.tag + ": ";
}

SyslogSender::SyslogSender(const ir::SyslogPeer& peer) : peer_(peer) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (peer.server.ipv6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(peer.server.port);
        ::inet_pton(AF_INET6, peer.server.ip.c_str(), &sin6->sin6_addr);
        len = sizeof *sin6;
    } else {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(peer.server.port);
        ::inet_pton(AF_INET, peer.server.ip.c_str(), &sin->sin_addr);
        len = sizeof *sin;
    }
    // ngx_syslog_init_peer: a connected, non-blocking datagram socket.
    fd_ = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        open_error_ = system_error_text("socket()", errno) + tail(peer_);
    } else if (::connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        open_error_ = system_error_text("connect()", errno) + tail(peer_);
        ::close(fd_);
        fd_ = -1;
    }
}

SyslogSender::~SyslogSender() {
    if (fd_ >= 0) ::close(fd_);
}

std::optional<SyslogFailure> SyslogSender::send(int severity, std::string_view line) const {
    if (fd_ < 0) return SyslogFailure{true, open_error_};
    std::string datagram = syslog_header(peer_, severity, std::time(nullptr));
    datagram.append(line);
    // A datagram refused earlier (ICMP port unreachable) fails this send, as nginx's.
    if (::send(fd_, datagram.data(), datagram.size(), 0) >= 0 || errno == EAGAIN || errno == EINTR) return std::nullopt;
    const int err = errno;
    const bool peer_error = err == ECONNREFUSED || err == ECONNRESET || err == EPIPE || err == ENOTCONN || err == ETIMEDOUT ||
                            err == ENETDOWN || err == ENETUNREACH || err == EHOSTDOWN || err == EHOSTUNREACH;
    return SyslogFailure{!peer_error, system_error_text("send()", err) + tail(peer_)};
}

}  // namespace ngxlite::runtime
