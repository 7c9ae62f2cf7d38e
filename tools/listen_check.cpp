#include "tools/listen_check.hpp"

#include "runtime/io/unix_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace ngxlite::tools {

namespace {

// A unix socket is bound and its file deleted again, as nginx's -t does.
std::optional<std::string> try_bind_unix(const ir::Listen& l) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "socket() " + l.endpoint.text() + " failed (" + std::to_string(errno) + ": " + std::strerror(errno) + ")";
    sockaddr_un address;
    runtime::unix_address(l.endpoint.ip, address);
    std::optional<std::string> err;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0)
        ::unlink(l.endpoint.ip.c_str());
    else if (errno != EADDRINUSE)
        err = "bind() to " + l.endpoint.text() + " failed (" + std::to_string(errno) + ": " + std::strerror(errno) + ")";
    ::close(fd);
    return err;
}

std::optional<std::string> try_bind(const ir::Listen& l) {
    if (l.endpoint.unix_socket) return try_bind_unix(l);
    const int family = l.endpoint.ipv6 ? AF_INET6 : AF_INET;
    int fd = ::socket(family, (l.udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) return "socket() " + l.endpoint.text() + " failed (" + std::to_string(errno) + ": " + std::strerror(errno) + ")";
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len;
    if (family == AF_INET6) {
        int v6only = l.ipv6only ? 1 : 0;
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(l.endpoint.port);
        ::inet_pton(AF_INET6, l.endpoint.ip.c_str(), &a->sin6_addr);
        len = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(l.endpoint.port);
        ::inet_pton(AF_INET, l.endpoint.ip.c_str(), &a->sin_addr);
        len = sizeof *a;
    }
    std::optional<std::string> err;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EADDRINUSE)
        err = "bind() to " + l.endpoint.text() + " failed (" + std::to_string(errno) + ": " + std::strerror(errno) + ")";
    ::close(fd);
    return err;
}

// nginx binds a wildcard address for a port and serves the port's other addresses
// through it, unless they ask for their own socket (`bind` and socket options).
std::optional<std::string> bind_group(const std::vector<ir::Listen>& listens) {
    for (const auto& l : listens) {
        bool covered = false;
        if (!l.wildcard && !l.bind)
            for (const auto& w : listens)
                covered = covered || (w.wildcard && w.endpoint.port == l.endpoint.port &&
                                      w.endpoint.ipv6 == l.endpoint.ipv6 && w.udp == l.udp);
        if (covered) continue;
        if (auto err = try_bind(l)) return err;
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> test_listeners(const ir::Config& config) {
    if (config.http) {
        std::vector<ir::Listen> all;
        for (const auto& a : config.http->addresses) all.push_back(a.listen);
        if (auto err = bind_group(all)) return err;
    }
    if (config.stream) {
        std::vector<ir::Listen> all;
        for (const auto& s : config.stream->servers) all.insert(all.end(), s.listens.begin(), s.listens.end());
        if (auto err = bind_group(all)) return err;
    }
    return bind_group(config.mail_listens);
}

}  // namespace ngxlite::tools
