#define BOOST_TEST_MODULE log_buffer
#include <boost/test/unit_test.hpp>

#include "runtime/core/log_buffer.hpp"
#include "runtime/testing/gunzip.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <string>

using namespace ngxlite;
using namespace ngxlite::runtime;
using ngxlite::testing::gunzip;

namespace {
// A pipe whose read end says what the buffer wrote so far.
struct Pipe {
    int fds[2];
    Pipe() {
        BOOST_REQUIRE(::pipe2(fds, O_NONBLOCK) == 0);
    }
    ~Pipe() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    std::string drain() const {
        std::string out;
        char chunk[4096];
        for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) > 0;) out.append(chunk, static_cast<std::size_t>(n));
        return out;
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(lines_wait_until_the_room_nginx_reserves_runs_out) {
    Pipe p;
    TimerTree timers;
    LogBuffer buffer(timers, p.fds[1], LogBufferSpec{64, ir::Msec(0), 0});
    // "/bufN:200\n": 10 bytes written, 27 reserved ($status reserves 20).
    for (int i = 1; i <= 4; ++i) buffer.add("/buf" + std::to_string(i) + ":200\n", 27);
    BOOST_TEST(p.drain().empty());
    buffer.add("/buf5:200\n", 27);
    BOOST_TEST(p.drain() == "/buf1:200\n/buf2:200\n/buf3:200\n/buf4:200\n");
    buffer.flush();
    BOOST_TEST(p.drain() == "/buf5:200\n");
}

BOOST_AUTO_TEST_CASE(a_line_larger_than_the_buffer_is_written_alone_after_the_rest) {
    Pipe p;
    TimerTree timers;
    LogBuffer buffer(timers, p.fds[1], LogBufferSpec{16, ir::Msec(0), 0});
    buffer.add("short\n", 6);
    const std::string big(40, 'x');
    buffer.add(big, big.size());
    BOOST_TEST(p.drain() == "short\n" + big);
}

BOOST_AUTO_TEST_CASE(each_gzip_flush_is_one_member) {
    Pipe p;
    TimerTree timers;
    {
        LogBuffer buffer(timers, p.fds[1], LogBufferSpec{1 << 20, ir::Msec(0), 1});
        buffer.add("/gz1:200\n", 9);
        buffer.add("/gz2:200\n", 9);
        BOOST_TEST(p.drain().empty());
    }  // written when it goes, as a worker's buffers are at its end
    const std::string member = p.drain();
    BOOST_TEST(member.substr(0, 2) == "\x1f\x8b");
    BOOST_TEST(gunzip(member) == "/gz1:200\n/gz2:200\n");
}

BOOST_AUTO_TEST_CASE(gzip_member_round_trips_at_every_level) {
    const std::string text(100000, 'a');
    for (int level = 1; level <= 9; ++level) BOOST_TEST(gunzip(gzip_member(text, level)) == text);
}
