#include "runtime/io/unix_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ngxlite::runtime {

namespace {
std::string failed(const std::string& call, int err) {
    return call + " failed (" + std::to_string(err) + ": " + std::strerror(err) + ")";
}
}  // namespace

bool unix_address(const std::string& path, sockaddr_un& out) {
    out = {};
    out.sun_family = AF_UNIX;
    if (path.size() + 1 > sizeof out.sun_path) return false;
    std::memcpy(out.sun_path, path.c_str(), path.size() + 1);
    return true;
}

std::string open_unix_socket_file(const std::string& path) {
    if (::chmod(path.c_str(), S_IRUSR | S_IWUSR | S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH) == 0) return {};
    return failed("chmod() \"" + path + "\"", errno);
}

std::string unix_peer_text(int fd) {
    sockaddr_un peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 || len <= offsetof(sockaddr_un, sun_path))
        return "unix:";
    const std::size_t max = len - offsetof(sockaddr_un, sun_path);
    return "unix:" + std::string(peer.sun_path, ::strnlen(peer.sun_path, max));
}

boost::system::error_code connect_unix(WorkerSocket& socket, const std::string& path) {
    const auto error = [](int e) { return boost::system::error_code(e, boost::system::system_category()); };
    sockaddr_un address;
    if (!unix_address(path, address)) return error(ENAMETOOLONG);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return error(errno);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        const int e = errno;
        ::close(fd);
        return error(e);
    }
    // The stream type the runtime moves bytes with: only addressing knows the family.
    boost::system::error_code ec;
    socket.assign(tcp::v4(), fd, ec);
    if (ec) {
        ::close(fd);
        return ec;
    }
    socket.non_blocking(true, ec);
    return ec;
}

bool connect_failure_is_critical(int error) {
    return error != ECONNREFUSED && error != EAGAIN && error != ECONNRESET && error != ENETDOWN && error != ENETUNREACH &&
           error != EHOSTDOWN && error != EHOSTUNREACH;
}

}  // namespace ngxlite::runtime
