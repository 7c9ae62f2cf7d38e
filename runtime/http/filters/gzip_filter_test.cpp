// The gzip body filter's stream: what it makes inflates back to the body, however the
// body comes in; its passes are nginx's (full gzip_buffers, at most their number at a
// time; a flush ends one); a short body gets a smaller window; $gzip_ratio's rounding.
#define BOOST_TEST_MODULE gzip_filter
#include <boost/test/unit_test.hpp>

#include "runtime/http/filters/gzip_filter.hpp"
#include "runtime/testing/gunzip.hpp"

#include <random>

using namespace ngxlite::runtime;
using ngxlite::testing::gunzip;
using Flush = GzipStream::Flush;

namespace {

// Text that compresses about 3:1, as pages do, the same every run.
std::string sample_body(std::size_t size) {
    static constexpr const char* words[] = {"nginx ", "gzip ", "filter ", "deflate ", "chunk ", "buffer\n", "<p>", "</p>"};
    std::mt19937 random(42);
    std::string body;
    while (body.size() < size) body += words[random() % 8];
    body.resize(size);
    return body;
}


// `body` through the stream in parts of `part` bytes, the last with the end; each pass kept.
std::vector<std::string> passes_of(const ngxlite::ir::Gzip& g, const std::string& body, std::size_t part,
                                   Flush each = Flush::none) {
    GzipStream stream(g, -1);
    std::vector<std::string> passes;
    for (std::size_t at = 0; at < body.size(); at += part) {
        const bool last = at + part >= body.size();
        BOOST_REQUIRE(stream.compress(std::string_view(body).substr(at, part), last ? Flush::finish : each));
        passes.insert(passes.end(), stream.passes().begin(), stream.passes().end());
    }
    BOOST_TEST(stream.done());
    return passes;
}

std::string joined(const std::vector<std::string>& passes) {
    std::string all;
    for (const auto& p : passes) all += p;
    return all;
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trips_in_any_parts) {
    const std::string body = sample_body(300000);
    for (int level : {1, 6, 9}) {
        ngxlite::ir::Gzip g;
        g.level = level;
        const std::string whole = joined(passes_of(g, body, body.size()));
        BOOST_TEST(gunzip(whole) == body);
        // Without flushes the deflate stream does not depend on how the body came in.
        for (std::size_t part : {1000u, 4096u, 32768u, 65536u}) BOOST_TEST(joined(passes_of(g, body, part)) == whole);
        BOOST_TEST(gunzip(joined(passes_of(g, body, 5000, Flush::sync))) == body);
    }
}

BOOST_AUTO_TEST_CASE(passes_are_full_buffers_until_the_end) {
    ngxlite::ir::Gzip g;
    g.buffers = 4;
    g.buffer_size = 1024;
    const auto passes = passes_of(g, sample_body(200000), 32768);
    BOOST_REQUIRE(passes.size() > 2);
    for (std::size_t i = 0; i + 1 < passes.size(); ++i) {
        BOOST_TEST(passes[i].size() % 1024 == 0);
        BOOST_TEST(passes[i].size() <= 4 * 1024);  // a pass holds at most gzip_buffers' number
    }
    BOOST_TEST(passes.front().substr(0, 3) == std::string("\x1f\x8b\x08", 3));  // zlib's gzip header
}

BOOST_AUTO_TEST_CASE(a_flush_ends_a_pass_at_a_block_end) {
    ngxlite::ir::Gzip g;
    GzipStream stream(g, -1);
    BOOST_REQUIRE(stream.compress("hello", Flush::sync));
    BOOST_REQUIRE(stream.passes().size() == 1);
    const std::string first = stream.passes()[0];
    BOOST_TEST(first.substr(first.size() - 4) == std::string("\x00\x00\xff\xff", 4));  // the sync marker
    BOOST_REQUIRE(stream.compress("", Flush::sync));  // nothing new: an empty flush
    BOOST_REQUIRE(stream.passes().size() == 1);
    BOOST_TEST(stream.passes()[0].empty());
    BOOST_REQUIRE(stream.compress("", Flush::finish));
    BOOST_TEST(gunzip(first + stream.passes()[0]) == "hello");
    BOOST_TEST(stream.total_in() == 5u);
}

BOOST_AUTO_TEST_CASE(a_short_body_gets_a_small_window) {
    ngxlite::ir::Gzip g;
    const std::string body = sample_body(3000);
    GzipStream small(g, static_cast<std::int64_t>(body.size()));
    BOOST_REQUIRE(small.compress(body, Flush::finish));
    BOOST_TEST(gunzip(joined(small.passes())) == body);
}

BOOST_AUTO_TEST_CASE(ratio_as_nginx_prints_it) {
    BOOST_TEST(gzip_ratio(0, 0) == "");
    BOOST_TEST(gzip_ratio(300, 100) == "3.00");
    BOOST_TEST(gzip_ratio(2125, 1000) == "2.13");
    BOOST_TEST(gzip_ratio(1999, 1000) == "2.00");
    BOOST_TEST(gzip_ratio(105, 100) == "1.05");
    BOOST_TEST(gzip_ratio(20, 40) == "0.50");
}
