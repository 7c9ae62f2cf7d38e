// The request parsers and the head reader, the upstream response parsers and head reader,
// each rule with the verdict nginx 1.22.1 gives (checked against /usr/sbin/nginx with the
// same bytes; testdata/http/proxy-upstream-* compare the upstream side whole).
#define BOOST_TEST_MODULE http_parse
#include <boost/test/unit_test.hpp>

#include "runtime/http/http_parse.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/http/request_head.hpp"
#include "runtime/http/proxy/upstream_response.hpp"

#include <memory>
#include <string>

using namespace ngxlite;
using namespace ngxlite::runtime;
using Step = RequestHeadReader::Step;

namespace {

// One of the line parsers on `in` from its start; `out` gets what it found.
template <class Line, class Parser, class... Options>
ParseStatus parse_from_start(Parser parse, std::string_view in, Line* out, Options... options) {
    Line line;
    std::size_t pos = 0;
    const ParseStatus s = parse(in, pos, line, options...);
    if (out) *out = line;
    return s;
}

ParseStatus line_status(std::string_view in, RequestLine* out = nullptr) {
    return parse_from_start(parse_request_line, in, out);
}

ParseStatus header_status(std::string_view in, HeaderLine* out = nullptr, bool underscores = false) {
    return parse_from_start(parse_header_line, in, out, underscores);
}

ParseStatus status_of(std::string_view in, StatusLine* out = nullptr) {
    return parse_from_start(parse_status_line, in, out);
}

std::string uri_of(std::string_view target, bool merge_slashes = true) {
    const auto u = parse_complex_uri(target, false, merge_slashes);
    return u ? u->path : "<400>";
}

// A selector over a default server and one named "under" with underscores allowed and
// invalid headers kept.
struct Servers {
    Servers() {
        dflt.names = {{"dflt", nullptr}};
        under.names = {{"under", nullptr}};
        under.underscores_in_headers = true;
        under.ignore_invalid_headers = false;
        selector.add(dflt, true);
        selector.add(under, false);
    }
    ir::HttpServer dflt, under;
    ServerSelector selector;
};

// Reads a whole head; the steps that skip headers are counted.
struct Head {
    explicit Head(std::string_view bytes) : reader(servers.selector, req) {
        while ((step = reader.step(bytes)) == Step::ignored_header) ++ignored;
    }
    Servers servers;
    Request req;
    RequestHeadReader reader;
    Step step;
    int ignored = 0;
};

}  // namespace

BOOST_AUTO_TEST_CASE(request_line_forms) {
    RequestLine l;
    BOOST_TEST((line_status("GET /a?b HTTP/1.1\r\n", &l) == ParseStatus::ok));
    BOOST_TEST(l.method == "GET");
    BOOST_TEST(l.target == "/a?b");
    BOOST_TEST(l.text == "GET /a?b HTTP/1.1");
    BOOST_TEST(l.version == 1001);
    // Empty lines before it are skipped; bare LF ends it; spaces around the target.
    BOOST_TEST((line_status("\r\n\nPOST  /x   HTTP/1.0  \n", &l) == ParseStatus::ok));
    BOOST_TEST(l.text == "POST  /x   HTTP/1.0  ");
    BOOST_TEST(l.version == 1000);
    // Absolute form: the host and the path; "http://h" alone is "/", "http://h?x" an empty path.
    BOOST_TEST((line_status("GET http://Foo.COM:80/p?x HTTP/1.1\r\n", &l) == ParseStatus::ok));
    BOOST_TEST(l.host == "Foo.COM");
    BOOST_TEST(l.target == "/p?x");
    BOOST_TEST((line_status("GET http://h HTTP/1.1\r\n", &l) == ParseStatus::ok));
    BOOST_TEST(l.target == "/");
    BOOST_TEST((line_status("GET http://h?x HTTP/1.1\r\n", &l) == ParseStatus::ok));
    BOOST_TEST(l.target == "?x");
    BOOST_TEST(l.empty_path);
    BOOST_TEST((line_status("GET http://[::1]:80/p HTTP/1.0\r\n", &l) == ParseStatus::ok));
    BOOST_TEST(l.host == "[::1]");
    BOOST_TEST((line_status("GET http://a_b/p HTTP/1.0\r\n") == ParseStatus::invalid_request));
    BOOST_TEST((line_status("GET http:/a HTTP/1.0\r\n") == ParseStatus::invalid_request));
    // CONNECT's authority form is not a target in 1.22.1.
    BOOST_TEST((line_status("CONNECT a:80 HTTP/1.1\r\n") == ParseStatus::invalid_request));
    // HTTP/0.9: no version, GET only.
    BOOST_TEST((line_status("GET /\r\n", &l) == ParseStatus::ok));
    BOOST_TEST(l.version == 9);
    BOOST_TEST((line_status("POST /\r\n") == ParseStatus::invalid_09_method));
    BOOST_TEST((line_status("GET / HTTP/1.1") == ParseStatus::again));
}

BOOST_AUTO_TEST_CASE(request_line_refusals) {
    BOOST_TEST((line_status("get / HTTP/1.1\r\n") == ParseStatus::invalid_method));
    BOOST_TEST((line_status("G@T / HTTP/1.1\r\n") == ParseStatus::invalid_method));
    BOOST_TEST((line_status("M-S_X / HTTP/1.1\r\n") == ParseStatus::ok));
    BOOST_TEST((line_status("GET /a\x01 HTTP/1.1\r\n") == ParseStatus::invalid_request));
    BOOST_TEST((line_status("GET /a\x7f HTTP/1.1\r\n") == ParseStatus::invalid_request));
    BOOST_TEST((line_status("GET /a b HTTP/1.1\r\n") == ParseStatus::invalid_request));
    BOOST_TEST((line_status("GET * HTTP/1.1\r\n") == ParseStatus::invalid_request));
    BOOST_TEST((line_status("GET / HTTP/2.0\r\n") == ParseStatus::invalid_version));
    BOOST_TEST((line_status("GET / HTTP/10.0\r\n") == ParseStatus::invalid_version));
    BOOST_TEST((line_status("GET / HTTP/0.9\r\n") == ParseStatus::invalid_request));
    BOOST_TEST((line_status("GET / HTTP/1.1x\r\n") == ParseStatus::invalid_request));
    BOOST_TEST((line_status("GET / HTTP/1.1\rx") == ParseStatus::invalid_request));
    BOOST_TEST((line_status("GET / HTTP/1.999\r\n") == ParseStatus::ok));
    BOOST_TEST((line_status("GET / HTTP/1.1000\r\n") == ParseStatus::invalid_request));
}

BOOST_AUTO_TEST_CASE(header_lines) {
    HeaderLine h;
    BOOST_TEST((header_status("Host:  a b \r\n", &h) == ParseStatus::ok));
    BOOST_TEST(h.name == "Host");
    BOOST_TEST(h.value == "a b");
    // 1.22 trims spaces only: a tab stays in the value ("\tchunked" is no "chunked").
    BOOST_TEST((header_status("Transfer-Encoding:\t chunked \t\r\n", &h) == ParseStatus::ok));
    BOOST_TEST(h.value == "\t chunked \t");
    BOOST_TEST((header_status("X: a\n", &h) == ParseStatus::ok));
    BOOST_TEST((header_status("X: a\r\r\n", &h) == ParseStatus::ok));
    BOOST_TEST((header_status("Foo\r\n", &h) == ParseStatus::ok));  // no colon: an empty value
    BOOST_TEST(h.value.empty());
    BOOST_TEST((header_status("\r\n") == ParseStatus::header_done));
    BOOST_TEST((header_status("\n") == ParseStatus::header_done));
    BOOST_TEST((header_status("X: a") == ParseStatus::again));
    // Invalid names are kept apart, for ignore_invalid_headers.
    BOOST_TEST((header_status("X-B@d: 1\r\n", &h) == ParseStatus::ok));
    BOOST_TEST(h.invalid_name);
    BOOST_TEST((header_status("X_U: 1\r\n", &h) == ParseStatus::ok));
    BOOST_TEST(h.invalid_name);
    BOOST_TEST((header_status("X_U: 1\r\n", &h, true) == ParseStatus::ok));
    BOOST_TEST(!h.invalid_name);
    BOOST_TEST((header_status("X\x80y: 1\r\n", &h) == ParseStatus::ok));
    BOOST_TEST(h.invalid_name);
}

BOOST_AUTO_TEST_CASE(header_line_refusals) {
    HeaderLine h;
    // obs-fold and any line starting with whitespace: refused, as nginx.
    BOOST_TEST((header_status(" folded\r\n", &h) == ParseStatus::invalid_header));
    BOOST_TEST(h.logged.empty());
    BOOST_TEST(h.refused == ' ');
    BOOST_TEST((header_status("\tX: 1\r\n") == ParseStatus::invalid_header));
    BOOST_TEST((header_status("Fo o: x\r\n", &h) == ParseStatus::invalid_header));
    BOOST_TEST(h.logged == "Fo");
    BOOST_TEST((header_status(":x\r\n") == ParseStatus::invalid_header));
    BOOST_TEST((header_status("X\x01y: 1\r\n") == ParseStatus::invalid_header));
    BOOST_TEST((header_status(std::string_view("X: a\0b\r\n", 8), &h) == ParseStatus::invalid_header));
    BOOST_TEST(h.logged == "X: a");
    BOOST_TEST((header_status("X: a\rb\r\n", &h) == ParseStatus::invalid_header));
    BOOST_TEST(h.refused == '\r');
    BOOST_TEST((header_status("\rX") == ParseStatus::invalid_header));
}

BOOST_AUTO_TEST_CASE(complex_uri) {
    BOOST_TEST(uri_of("/a//b/./c/../d") == "/a/b/d");
    BOOST_TEST(uri_of("/a//b", false) == "/a//b");
    BOOST_TEST(uri_of("/a%20b/%2e%2e/c") == "/c");
    BOOST_TEST(uri_of("/a/") == "/a/");
    BOOST_TEST(uri_of("/a/..") == "/");
    BOOST_TEST(uri_of("/a/.") == "/a/");
    BOOST_TEST(uri_of("/a/./b/../c/") == "/a/c/");
    BOOST_TEST(uri_of("/a%2fb") == "/a/b");
    BOOST_TEST(uri_of("/a%3fb") == "/a?b");      // an escaped '?' is part of the path
    BOOST_TEST(uri_of("/a%25%23") == "/a%#");
    BOOST_TEST(uri_of("/a..b/.x") == "/a..b/.x");
    BOOST_TEST(uri_of("/a#frag") == "/a");
    BOOST_TEST(uri_of("/..") == "<400>");
    BOOST_TEST(uri_of("/a/../../b") == "<400>");
    BOOST_TEST(uri_of("/%2e%2e/x") == "<400>");
    BOOST_TEST(uri_of("/%zz") == "<400>");
    BOOST_TEST(uri_of("/a%2") == "<400>");
    BOOST_TEST(uri_of("/a%00b") == "<400>");
    const auto u = parse_complex_uri("/a/./b?x=1#f", false, true);
    BOOST_TEST(u->path == "/a/b");
    BOOST_TEST(u->args == "x=1");
    BOOST_TEST(u->has_args);
    const auto e = parse_complex_uri("?x", true, true);
    BOOST_TEST(e->path == "/");
    BOOST_TEST(e->args == "x");
}

BOOST_AUTO_TEST_CASE(host_validation) {
    BOOST_TEST(*validate_host("Example.COM") == "example.com");
    BOOST_TEST(*validate_host("a.:80") == "a");
    BOOST_TEST(*validate_host("[::1]:80") == "[::1]");
    BOOST_TEST(*validate_host("a\\b") == "a\\b");  // only '/' is a path separator here
    BOOST_TEST(!validate_host(""));
    BOOST_TEST(!validate_host("."));
    BOOST_TEST(!validate_host(":80"));
    BOOST_TEST(!validate_host("a..b"));
    BOOST_TEST(!validate_host("a/b"));
    BOOST_TEST(!validate_host("a b"));
    BOOST_TEST(!validate_host(std::string_view("a\0b", 3)));
    BOOST_TEST(!validate_host("a\x7f"));
}

namespace {
// The body a chunked parse yields, or "<invalid>" / "<again>".
std::string dechunk(std::string_view in, std::string* rest = nullptr) {
    ChunkedParser p;
    std::string body;
    for (;;) {
        switch (p.parse(in)) {
        case ChunkedParser::Status::data: {
            const auto n = std::min<std::uint64_t>(p.chunk_left(), in.size());
            body.append(in.substr(0, n));
            in.remove_prefix(n);
            p.take(n);
            break;
        }
        case ChunkedParser::Status::done:
            if (rest) *rest = std::string(in);
            return body;
        case ChunkedParser::Status::again: return "<again>";
        case ChunkedParser::Status::invalid: return "<invalid>";
        }
    }
}
}  // namespace

BOOST_AUTO_TEST_CASE(chunked_bodies) {
    std::string rest;
    BOOST_TEST(dechunk("5\r\nhello\r\n0\r\n\r\nGET", &rest) == "hello");
    BOOST_TEST(rest == "GET");
    BOOST_TEST(dechunk("5\nhello\n0\n\n") == "hello");  // bare LF, as 1.22.1 allows
    BOOST_TEST(dechunk("5 ;x\r\nhello\r\n0;y\r\nT: 1\r\n\r\n") == "hello");  // extensions, trailers
    BOOST_TEST(dechunk("A\r\n0123456789\r\n0\r\n\r\n") == "0123456789");
    BOOST_TEST(dechunk("5\r\nhelloX\r\n0\r\n\r\n") == "<invalid>");
    BOOST_TEST(dechunk("x\r\n") == "<invalid>");
    BOOST_TEST(dechunk("5x\r\n") == "<invalid>");
    BOOST_TEST(dechunk("5\r\nhel") == "<again>");
}

BOOST_AUTO_TEST_CASE(chunked_edges) {
    // Extensions after ';', a space or a tab, any bytes up to the line's end; trailers
    // skipped whole, bare LF or CR LF.
    BOOST_TEST(dechunk("5\t; a=\"b;c\"\r\nhello\r\n0 ;z\nX: 1\nY: 2\r\n\n") == "hello");
    BOOST_TEST(dechunk("0\r\n\r\n").empty());
    BOOST_TEST(dechunk("00000\r\n\r\n").empty());  // leading zeros
    BOOST_TEST(dechunk("0\r\nX: 1\r\n") == "<again>");  // the trailers' end not yet come
    BOOST_TEST(dechunk("5\r\nhello\r\r\n") == "<invalid>");  // one CR only
    BOOST_TEST(dechunk("5\rhello") == "<invalid>");  // CR not followed by LF
    BOOST_TEST(dechunk("0\r\n\rX") == "<invalid>");
    BOOST_TEST(dechunk(";ext\r\n") == "<invalid>");  // no size
    BOOST_TEST(dechunk("-1\r\n") == "<invalid>");
    // Sizes: past off_t / 16, any next byte is refused; at a read's end, a size that
    // leaves no room for the framing after it (ngx_http_parse_chunked's
    // NGX_MAX_OFF_T_VALUE - 5) is refused at once.
    BOOST_TEST(dechunk("fffffffffffffffff\r\n") == "<invalid>");
    BOOST_TEST(dechunk("8000000000000000\r\n") == "<invalid>");
    BOOST_TEST(dechunk("7ffffffffffffffa\r\n") == "<invalid>");
    BOOST_TEST(dechunk("7ffffffffffffffb") == "<invalid>");
    BOOST_TEST(dechunk("7ffffffffffffffa") == "<again>");
    BOOST_TEST(dechunk("7ffffffffffffff\r\n") == "<again>");  // the largest size nginx takes
    BOOST_TEST(dechunk("000000000000000000000005\r\nhello\r\n0\r\n\r\n") == "hello");
}

BOOST_AUTO_TEST_CASE(status_lines) {
    StatusLine l;
    BOOST_TEST((status_of("HTTP/1.1 200 OK\r\n", &l) == ParseStatus::ok));
    BOOST_TEST(l.code == 200);
    BOOST_TEST(l.text == "200 OK");
    BOOST_TEST(l.version == 1001);
    BOOST_TEST((status_of("HTTP/1.0 404 Not Found\n", &l) == ParseStatus::ok));  // bare LF
    BOOST_TEST(l.text == "404 Not Found");
    BOOST_TEST(l.version == 1000);
    BOOST_TEST((status_of("HTTP/1.1 204\r\n", &l) == ParseStatus::ok));  // no reason
    BOOST_TEST(l.text == "204");
    BOOST_TEST((status_of("HTTP/1.1    301 Moved \r\n", &l) == ParseStatus::ok));  // spaces before the code
    BOOST_TEST(l.text == "301 Moved ");
    BOOST_TEST((status_of("HTTP/1.1 403.2 Forbidden\r\n", &l) == ParseStatus::ok));  // IIS
    BOOST_TEST(l.code == 403);
    BOOST_TEST((status_of("HTTP/2.0 200 OK\r\n", &l) == ParseStatus::ok));
    BOOST_TEST(l.version == 2000);
    BOOST_TEST((status_of("HTTP/1.1 999 \x01\x7f\r\n") == ParseStatus::ok));  // any text
    BOOST_TEST((status_of("HTTP/1.1 200 OK") == ParseStatus::again));
    BOOST_TEST((status_of("HTT") == ParseStatus::again));
    // nginx takes each of these for an HTTP/0.9 answer.
    for (std::string_view bad : {"http/1.1 200 OK\r\n", "\r\nHTTP/1.1 200 OK\r\n", "HTTP/0.9 200 OK\r\n",
                                 "HTTP/1 200 OK\r\n", "HTTP/1.x 200\r\n", "HTTP/1.1 20 OK\r\n", "HTTP/1.1 2000\r\n",
                                 "HTTP/1.1 200 OK\rX", "HTTP/1.1\t200 OK\r\n", "HTTP/1000.1 200\r\n", "ICY 200 OK\r\n"})
        BOOST_TEST((status_of(bad) == ParseStatus::invalid_request), bad);
}

BOOST_AUTO_TEST_CASE(response_header_lines) {
    HeaderLine h;
    std::size_t pos = 0;
    // Underscores and other printable bytes are names like any other there.
    BOOST_TEST((parse_response_header_line("X_A@b: 1\r\n", pos, h) == ParseStatus::ok));
    BOOST_TEST(h.name == "X_A@b");
    // IIS repeats its status line: skipped, the next line parsed in its place.
    pos = 0;
    BOOST_TEST((parse_response_header_line("HTTP/1.1 200 OK\r\nX: 1\r\n", pos, h) == ParseStatus::ok));
    BOOST_TEST(h.name == "X");
    BOOST_TEST(pos == 23u);
    pos = 0;
    BOOST_TEST((parse_response_header_line("HTTP/1.1 200 OK\r\n\r\n", pos, h) == ParseStatus::header_done));
    pos = 0;
    BOOST_TEST((parse_response_header_line("HTTP/1.1 200", pos, h) == ParseStatus::again));
    BOOST_TEST(pos == 0u);
    pos = 0;  // only "HTTP" exactly, and only on the upstream side
    BOOST_TEST((parse_response_header_line("Http/1.1: x\r\n", pos, h) == ParseStatus::ok));
    BOOST_TEST(h.name == "Http/1.1");
    BOOST_TEST((header_status("HTTP/1.1 200 OK\r\n", &h) == ParseStatus::invalid_header));
    pos = 0;
    BOOST_TEST((parse_response_header_line("Bad Name: x\r\n", pos, h) == ParseStatus::invalid_header));
    BOOST_TEST(h.logged == "Bad");
}

BOOST_AUTO_TEST_CASE(offsets) {
    BOOST_TEST(*parse_offset("0") == 0u);
    BOOST_TEST(*parse_offset("0012") == 12u);
    BOOST_TEST(*parse_offset("9223372036854775807") == 9223372036854775807u);
    BOOST_TEST(!parse_offset("9223372036854775808"));
    BOOST_TEST(!parse_offset(""));
    BOOST_TEST(!parse_offset("+5"));
    BOOST_TEST(!parse_offset("-5"));
    BOOST_TEST(!parse_offset("5 "));
    BOOST_TEST(!parse_offset("0x10"));
}

namespace {
// An upstream head read whole from `bytes`, with proxy_buffer_size `limit`.
struct UpstreamRead {
    explicit UpstreamRead(std::string_view bytes, std::size_t limit = 4096)
        : head(limit, arena.allocator()), step(head.step(bytes)) {}
    HeaderArena<256> arena;
    UpstreamHead head;
    UpstreamHead::Step step;
};
using UStep = UpstreamHead::Step;
}  // namespace

BOOST_AUTO_TEST_CASE(upstream_heads) {
    UpstreamRead lf("HTTP/1.1 200 OK\nServer: b\nX-A: 1\nContent-Length: 5\n\nhello");
    BOOST_TEST((lf.step == UStep::done));
    BOOST_TEST(lf.head.size() == 52u);
    BOOST_TEST(lf.head.status() == 200);
    BOOST_TEST(lf.head.status_line() == "200 OK");
    BOOST_TEST(lf.head.headers().size() == 3u);
    BOOST_TEST(*lf.head.find("x-a") == "1");
    BOOST_TEST(*lf.head.content_length() == 5u);
    BOOST_TEST(!lf.head.connection_close());
    // Read as it comes: each step goes on from the last whole line.
    HeaderArena<256> arena;
    UpstreamHead parts(4096, arena.allocator());
    const std::string_view whole = "HTTP/1.1 200 OK\r\nX: 1\r\n\r\n";
    for (std::size_t n = 0; n < whole.size(); ++n) BOOST_TEST((parts.step(whole.substr(0, n)) == UStep::incomplete));
    BOOST_TEST((parts.step(whole) == UStep::done));
    BOOST_TEST(parts.headers().size() == 1u);
    // The framing headers as the upstream module takes them.
    BOOST_TEST(*UpstreamRead("HTTP/1.1 200 OK\r\nContent-Length: 9\r\nContent-Length: 3\r\n\r\n").head.content_length() == 3u);
    BOOST_TEST(!UpstreamRead("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: x\r\n\r\n").head.content_length());
    UpstreamRead both("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n");
    BOOST_TEST(both.head.chunked());
    BOOST_TEST(!both.head.content_length());
    BOOST_TEST(!UpstreamRead("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").head.chunked());
    BOOST_TEST(UpstreamRead("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\n\r\n").head.connection_close());
    BOOST_TEST(UpstreamRead("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n").head.connection_close());
}

BOOST_AUTO_TEST_CASE(upstream_head_refusals) {
    UpstreamRead http09("no status line\r\n\r\n");
    BOOST_TEST((http09.step == UStep::http09));
    BOOST_TEST(http09.head.size() == 0u);  // every byte is the body
    BOOST_TEST(http09.head.connection_close());
    UpstreamRead invalid("HTTP/1.1 200 OK\r\nX-A: 1\r\nBad Name: x\r\n\r\n");
    BOOST_TEST((invalid.step == UStep::invalid));
    BOOST_TEST(invalid.head.error() == "upstream sent invalid header: \"Bad\\x20...\"");
    BOOST_TEST(invalid.head.headers().size() == 1u);  // what came before it is kept
    BOOST_TEST((UpstreamRead("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n").step == UStep::invalid));
    BOOST_TEST((UpstreamRead("HTTP/1.1 200 OK\r\n folded\r\n\r\n").step == UStep::invalid));
    // proxy_buffer_size: a head that ends within it is taken, one that does not is too big,
    // however many bytes came.
    const std::string line = "X: " + std::string(80, 'a') + "\r\n";  // 85 bytes
    std::string head = "HTTP/1.1 200 OK\r\n";                     // 17 bytes
    for (int i = 0; i < 12; ++i) head += line;                       // 1037 bytes
    BOOST_TEST((UpstreamRead(head + "\r\n", 1039).step == UStep::done));
    BOOST_TEST((UpstreamRead(head + "\r\n", 1038).step == UStep::too_big));
    BOOST_TEST((UpstreamRead(head + "\r", 1038).step == UStep::too_big));
    BOOST_TEST((UpstreamRead(head + "\r", 1039).step == UStep::incomplete));
    BOOST_TEST((UpstreamRead("HTTP/1.1 200 OK\r\n", 10).step == UStep::too_big));  // the status line too
}

BOOST_AUTO_TEST_CASE(upstream_bodies) {
    const auto framing = [](std::string_view head, bool head_request = false) {
        return body_framing(UpstreamRead(head).head, head_request);
    };
    BOOST_TEST((framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") == BodyFraming::length));
    BOOST_TEST((framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == BodyFraming::none));
    BOOST_TEST((framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true) == BodyFraming::none));
    BOOST_TEST((framing("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n") == BodyFraming::none));
    BOOST_TEST((framing("HTTP/1.1 304 Not Modified\r\n\r\n") == BodyFraming::none));
    BOOST_TEST((framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") == BodyFraming::chunked));
    BOOST_TEST((framing("HTTP/1.0 200 OK\r\n\r\n") == BodyFraming::until_close));
    BOOST_TEST((framing("HTTP/1.1 100 Continue\r\n\r\n") == BodyFraming::until_close));  // 1xx: not special
    BOOST_TEST((framing("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n") == BodyFraming::until_close));
    // A read's chunks joined at its front, in place.
    ChunkedParser parser;
    std::string read = "5;x\r\nhello\r\n6\r\n world\r\n2\r\n!";
    Dechunked d = dechunk(parser, read.data(), read.size());
    BOOST_TEST((d.status == Dechunked::Status::more));
    BOOST_TEST(read.substr(0, d.data) == "hello world!");
    read = "?\r\n0\r\nT: 1\r\n\r\nrest";
    d = dechunk(parser, read.data(), read.size());
    BOOST_TEST((d.status == Dechunked::Status::done));
    BOOST_TEST(read.substr(0, d.data) == "?");
    BOOST_TEST(d.after_last);
    ChunkedParser broken;
    read = "5\r\nhello\r\nzz\r\n";
    BOOST_TEST((dechunk(broken, read.data(), read.size()).status == Dechunked::Status::invalid));
}

BOOST_AUTO_TEST_CASE(head_accepted) {
    Head h("GET /a/../b?x HTTP/1.1\r\nHost: Under:80\r\nX_U: 1\r\nConnection: close\r\n\r\nBODY");
    BOOST_TEST((h.step == Step::done));
    BOOST_TEST(h.reader.size() == std::string_view("GET /a/../b?x HTTP/1.1\r\nHost: Under:80\r\nX_U: 1\r\nConnection: close\r\n\r\n").size());
    BOOST_TEST(h.req.uri == "/b");
    BOOST_TEST(h.req.args == "x");
    BOOST_TEST(h.req.host == "under");
    BOOST_TEST(&h.reader.server() == &h.servers.under);
    BOOST_TEST(h.req.headers.size() == 3u);  // "under" takes X_U
    BOOST_TEST(!h.reader.keep_alive());
    // Before Host the default server's rules skip it.
    Head d("GET / HTTP/1.1\r\nX_U: 1\r\nHost: under\r\n\r\n");
    BOOST_TEST(d.ignored == 1);
    BOOST_TEST(d.req.headers.size() == 1u);
    Head zero("GET /\r\n");
    BOOST_TEST((zero.step == Step::done));
    BOOST_TEST(zero.req.version == 9);
    Head ten("GET / HTTP/1.0\r\n\r\n");
    BOOST_TEST(!ten.reader.keep_alive());
    Head chunked("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
    BOOST_TEST(chunked.reader.chunked());
    Head partial("GET / HTTP/1.1\r\nHost: a\r\n");
    BOOST_TEST((partial.step == Step::incomplete));
    Head line_from("GET http://Line/ HTTP/1.1\r\nHost: under\r\n\r\n");
    BOOST_TEST(line_from.req.host == "line");  // the request line's host wins
}

BOOST_AUTO_TEST_CASE(head_fields_follow_their_bytes) {
    // The fields are views: into the received bytes, which may move between reads (a
    // buffer that grows), then into the copy the request keeps.
    Servers servers;
    Request req;
    RequestHeadReader reader(servers.selector, req);
    auto first = std::make_unique<std::string>("GET / HTTP/1.1\r\nHost: a\r\nX-One: 1\r\n");
    BOOST_TEST((reader.step(*first) == Step::incomplete));
    const std::string grown = *first + "X-Two: 2\r\n\r\nBODY";
    first.reset();
    BOOST_TEST((reader.step(grown) == Step::done));
    std::pmr::string kept;
    reader.keep_head(grown, kept);
    BOOST_TEST(std::string_view(kept) == std::string_view(grown).substr(0, reader.size()));
    BOOST_REQUIRE(req.headers.size() == 3u);
    BOOST_TEST(req.headers[1].name == "X-One");
    BOOST_TEST(static_cast<std::size_t>(req.headers[1].value.data() - kept.data()) == kept.find(": 1\r\n") + 2);
    BOOST_TEST(*req.header("x-two") == "2");
    BOOST_TEST(req.request_line == "GET / HTTP/1.1");
    BOOST_TEST(static_cast<std::size_t>(req.method.data() - kept.data()) == 0u);
    // A line cut short is kept as far as it came, for the log.
    Request cut;
    RequestHeadReader cut_reader(servers.selector, cut);
    BOOST_TEST((cut_reader.step("GET /lo") == Step::incomplete));
    cut_reader.keep_head("GET /lo", kept);
    BOOST_TEST(cut.request_line == "GET /lo");
    BOOST_TEST(static_cast<const void*>(cut.request_line.data()) == static_cast<const void*>(kept.data()));
}

namespace {
// A head's refusal: its status and nginx's message.
std::pair<int, std::string> refusal(std::string_view bytes) {
    Head h(bytes);
    BOOST_TEST_CONTEXT(bytes) BOOST_TEST((h.step == Step::refused));
    return {h.reader.status(), h.reader.refusal()};
}
using Refusal = std::pair<int, std::string>;
}  // namespace

BOOST_AUTO_TEST_CASE(head_refusals) {
    BOOST_TEST((refusal("get / HTTP/1.1\r\n") == Refusal{400, "client sent invalid method while reading client request line"}));
    BOOST_TEST((refusal("GET / HTTP/2.0\r\n") == Refusal{505, "client sent invalid version while reading client request line"}));
    BOOST_TEST((refusal("GET /%00 HTTP/1.0\r\n\r\n") == Refusal{400, "client sent invalid request while reading client request line"}));
    BOOST_TEST((refusal("GET /../x HTTP/1.0\r\n\r\n") == Refusal{400, "client sent invalid request while reading client request line"}));
    BOOST_TEST((refusal("GET http://a..b/ HTTP/1.0\r\n\r\n") ==
                Refusal{400, "client sent invalid host in request line while reading client request line"}));
    BOOST_TEST((refusal("GET / HTTP/1.1\r\n\r\n") ==
                Refusal{400, "client sent HTTP/1.1 request without \"Host\" header while reading client request headers"}));
    BOOST_TEST((refusal("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") ==
                Refusal{400, "client sent duplicate host header: \"Host: b\", previous value: \"Host: a\" while reading client request headers"}));
    BOOST_TEST((refusal("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n") == Refusal{400, "client sent invalid host header while reading client request headers"}));
    BOOST_TEST((refusal("GET / HTTP/1.1\r\nHost:\r\n\r\n") == Refusal{400, "client sent invalid host header while reading client request headers"}));
    BOOST_TEST((refusal("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n") ==
                Refusal{400, "client sent invalid header line: \"\\x20...\" while reading client request headers"}));
    BOOST_TEST((refusal("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n") ==
                Refusal{400, "client sent invalid header line: \"X: a\\x0d...\" while reading client request headers"}));
    BOOST_TEST((refusal("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n") ==
                Refusal{400, "client sent duplicate header line: \"content-length: 1\", previous value: \"Content-Length: 1\" while reading client request headers"}));
    for (const char* cl : {"-1", "+1", "5, 5", "", "99999999999999999999", "1 2"})
        BOOST_TEST((refusal("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::string(cl) + "\r\n\r\n") ==
                    Refusal{400, "client sent invalid \"Content-Length\" header while reading client request headers"}));
    BOOST_TEST((refusal("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n") ==
                Refusal{400, "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time while reading client request headers"}));
    BOOST_TEST((refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") ==
                Refusal{501, "client sent unknown \"Transfer-Encoding\": \"gzip, chunked\" while reading client request headers"}));
    BOOST_TEST((refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") ==
                Refusal{400, "client sent HTTP/1.0 request with \"Transfer-Encoding\" header while reading client request headers"}));
    BOOST_TEST((refusal("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n") == Refusal{405, "client sent CONNECT method while reading client request headers"}));
    BOOST_TEST((refusal("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n") == Refusal{405, "client sent TRACE method while reading client request headers"}));
    for (const char* name : {"If-Modified-Since", "If-Unmodified-Since", "If-Match", "If-None-Match", "Content-Range", "If-Range",
                             "Transfer-Encoding", "Expect", "Authorization"})
        BOOST_TEST(refusal("GET / HTTP/1.1\r\nHost: a\r\n" + std::string(name) + ": 1\r\n" + name + ": 2\r\n\r\n").first == 400);
}

BOOST_AUTO_TEST_CASE(head_sizes) {
    const std::string long_uri(8200, 'a');
    const auto too_long = refusal("GET /" + long_uri + " HTTP/1.1\r\nHost: a\r\n\r\n");
    BOOST_TEST(too_long.first == 414);
    BOOST_TEST(too_long.second == "client sent too long URI while reading client request line");
    BOOST_TEST(refusal("GET /" + long_uri).first == 414);  // incomplete, already too long
    const auto header = refusal("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(8200, 'b') + "\r\n\r\n");
    BOOST_TEST(header.first == 494);
    BOOST_TEST(header.second == "client sent too long header line: \"X: " + std::string(1745, 'b') + "...\" while reading client request headers");
    std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
    while (many.size() < 4 * 8192) many += "X: " + std::string(4000, 'c') + "\r\n";
    BOOST_TEST(refusal(many).first == 494);
    // A request line of exactly one large buffer fits.
    const std::string fits = "GET /" + std::string(8192 - 16, 'a') + " HTTP/1.0\r\n";
    BOOST_TEST(fits.size() == 8192u);
    Head ok(fits + "\r\n");
    BOOST_TEST((ok.step == Step::done));
}

BOOST_AUTO_TEST_CASE(request_bodies) {
    // Content-Length: its bytes, the next request left after them.
    Head cl("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
    RequestBody fixed(cl.reader);
    std::string body;
    std::string_view in = "hel";
    BOOST_TEST((fixed.take(in, &body, 0) == RequestBody::Status::more));
    in = "loGET";
    BOOST_TEST((fixed.take(in, &body, 0) == RequestBody::Status::read));
    BOOST_TEST(body == "hello");
    BOOST_TEST(in == "GET");
    // Chunked: nginx's check before each chunk's data, with its "N+M bytes".
    Head ch("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    RequestBody chunked(ch.reader);
    body.clear();
    in = "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
    BOOST_TEST((chunked.take(in, &body, 4) == RequestBody::Status::too_large));
    BOOST_TEST(chunked.too_large_sizes() == "3+3");
    BOOST_TEST(body == "abc");
    BOOST_TEST(chunked.done());  // refused: nothing more is read of it
    RequestBody dropped(ch.reader);
    in = "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\nNEXT";
    BOOST_TEST((dropped.take(in, nullptr, 0) == RequestBody::Status::read));
    BOOST_TEST(in == "NEXT");
    RequestBody invalid(ch.reader);
    in = "3\r\nabcX";
    BOOST_TEST((invalid.take(in, nullptr, 0) == RequestBody::Status::invalid));
    // No body: nothing to read.
    Head none("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    BOOST_TEST(RequestBody(none.reader).done());
}

BOOST_AUTO_TEST_CASE(head_sizes_are_the_servers) {
    // client_header_buffer_size and large_client_header_buffers of the server chosen so
    // far; max_headers counts the lines taken (an ignored invalid one is not), 494 past it.
    ir::HttpServer small;
    small.header_buffer_size = 64;
    small.large_header_buffers = 1;
    small.large_header_buffer_size = 128;
    small.max_headers = 3;
    ServerSelector selector;
    selector.add(small, true);
    const auto read = [&](std::string_view bytes) {
        Request req;
        RequestHeadReader reader(selector, req);
        Step step;
        while ((step = reader.step(bytes)) == Step::ignored_header) {}
        return std::pair{step, step == Step::refused ? reader.status() : 0};
    };
    BOOST_TEST((read("GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n").first == Step::done));
    BOOST_TEST((read("GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n") == std::pair{Step::refused, 494}));
    BOOST_TEST((read("GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nX.Y: 0\r\nC: 3\r\n\r\n").first == Step::done));
    BOOST_TEST((read("GET /" + std::string(100, 'a') + " HTTP/1.0\r\n\r\n").first == Step::done));
    BOOST_TEST((read("GET /" + std::string(200, 'a') + " HTTP/1.0\r\n\r\n") == std::pair{Step::refused, 414}));
    BOOST_TEST((read("GET / HTTP/1.0\r\nX: " + std::string(200, 'b') + "\r\n\r\n") == std::pair{Step::refused, 494}));
}

BOOST_AUTO_TEST_CASE(http_times_as_nginx_parses_them) {
    BOOST_TEST(parse_http_time("Sun, 09 Sep 2001 01:46:40 GMT").value_or(-1) == 1000000000);
    BOOST_TEST(parse_http_time("Sunday, 09-Sep-01 01:46:40 GMT").value_or(-1) == 1000000000);
    BOOST_TEST(parse_http_time("Sun Sep  9 01:46:40 2001").value_or(-1) == 1000000000);
    BOOST_TEST(parse_http_time("Mon, 28 Sep 1970 06:00:00 GMT").value_or(-1) == 23349600);
    BOOST_TEST(!parse_http_time("wrong"));
    BOOST_TEST(!parse_http_time("Mon, 29 Feb 2001 00:00:00 GMT"));
    BOOST_TEST(!parse_http_time("Mon, 28 Sep 1970 24:00:00 GMT"));
}
