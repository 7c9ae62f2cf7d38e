// error_log syslog:...: the header nginx writes, and lines sent to a real UDP socket.
#define BOOST_TEST_MODULE syslog
#include <boost/test/unit_test.hpp>

#include "runtime/core/logs.hpp"
#include "runtime/core/syslog.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace ngxlite;
using namespace ngxlite::runtime;

namespace {

// A UDP socket on 127.0.0.1 that waits at most two seconds for a datagram.
struct UdpReceiver {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    std::uint16_t port = 0;
    UdpReceiver() {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        timeval tv{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~UdpReceiver() { close(); }
    void close() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    std::string receive() const {
        char buf[4096];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
    }
};

ir::ErrorLog syslog_target(std::uint16_t port, const std::string& level) {
    ir::SyslogPeer peer;
    peer.server = {"127.0.0.1", port, false};
    return {"syslog:server=127.0.0.1:" + std::to_string(port), level, peer};
}

std::string read_file(const std::filesystem::path& p) {
    std::ostringstream out;
    out << std::ifstream(p).rdbuf();
    return out.str();
}

}  // namespace

BOOST_AUTO_TEST_CASE(header_as_ngx_syslog_add_header) {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    ir::SyslogPeer peer;
    peer.nohostname = true;
    BOOST_TEST(syslog_header(peer, 3, 0) == "<187>Jan  1 00:00:00 nginx: ");
    peer.facility = 0;
    peer.tag = "web_1";
    BOOST_TEST(syslog_header(peer, 6, 86400 * 40 + 3661) == "<6>Feb 10 01:01:01 web_1: ");
}

// A line at the target's level or above goes out as one datagram, without its newline,
// the severity its own; a more detailed one does not.
BOOST_AUTO_TEST_CASE(lines_go_to_the_server) {
    UdpReceiver server;
    const ErrorLog log({syslog_target(server.port, "info")});
    log.write(LogLevel::debug, "not sent");
    log.write(LogLevel::info, "hello", 7);
    const std::string got = server.receive();
    BOOST_TEST(got.starts_with("<190>"));
    BOOST_TEST(got.find(" nginx: ") != std::string::npos);
    BOOST_TEST(got.ends_with(" [info] " + std::to_string(::getpid()) + "#" + std::to_string(::gettid()) + ": *7 hello"));
}

// A refused datagram fails a later send: nginx's line goes to the main log's files.
BOOST_AUTO_TEST_CASE(a_refused_peer_is_logged_to_the_main_log) {
    UdpReceiver gone;
    const std::uint16_t port = gone.port;
    gone.close();
    const auto file = std::filesystem::temp_directory_path() / ("ngxlite-syslog-test-" + std::to_string(::getpid()) + ".log");
    const ErrorLog main({{file.string(), "error", {}}});
    const ErrorLog server_log({syslog_target(port, "error")}, &main);
    const std::string expected = "send() failed (111: Connection refused) while logging to syslog, server: 127.0.0.1:" +
                                 std::to_string(port);
    for (int i = 0; i < 100 && read_file(file).find(expected) == std::string::npos; ++i)
        server_log.write(LogLevel::error, "lost");
    BOOST_TEST(read_file(file).find("[error] " + std::to_string(::getpid())) != std::string::npos);
    BOOST_TEST(read_file(file).find(expected) != std::string::npos);
    std::filesystem::remove(file);
}
