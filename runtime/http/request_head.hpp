// A request's head read as nginx reads it (ngx_http_process_request_line,
// ngx_http_process_request_headers, ngx_http_process_request_header): the request line,
// the header lines with the server's rules for them, and the checks before the request
// is processed, each refusal with nginx's status and log line.
#pragma once

#include "runtime/http/http_parse.hpp"
#include "runtime/http/request.hpp"
#include "runtime/http/router.hpp"

#include <cstdint>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

// nginx's defaults: client_header_buffer_size 1k, large_client_header_buffers 4 8k (a
// server's own settings decide, as RequestHeadReader reads them; these size reads).
constexpr std::size_t kHeaderBuffer = 1024;
constexpr std::size_t kLargeHeaderBuffer = 8192;

class RequestHeadReader {
public:
    enum class Step {
        incomplete,      // more bytes are needed
        ignored_header,  // an invalid header line was skipped: ignored_line() is it, to log
        done,            // the head is whole and accepted: size() bytes
        refused,         // status() with refusal() to log
    };

    // Fills `req` (method, lines, URI, arguments, version, headers, host) as it parses.
    // `pipelined`: the request came behind another in the same read, which nginx's
    // messages say ("while reading client pipelined request line").
    RequestHeadReader(const ServerSelector& selector, Request& req, bool pipelined = false);

    // Goes on with the head in `received`: the connection's bytes from the request's
    // start, the same ones and more at each call. Call again after ignored_header.
    Step step(std::string_view received);

    // The server chosen so far: by the absolute target's host, by the Host header, else
    // the address's default server.
    const ir::HttpServer& server() const { return *server_; }
    std::size_t size() const { return pos_; }  // done: the head's bytes, the body's follow
    bool reading_headers() const { return reading_headers_; }  // the request line is done
    int status() const { return status_; }
    // nginx's message, with its " while reading client request line|headers".
    const std::string& refusal() const { return refusal_; }
    const std::string& ignored_line() const { return ignored_; }
    std::optional<std::uint64_t> content_length() const { return content_length_; }
    bool chunked() const { return chunked_; }
    // Connection: keep-alive or close, else the version's default (nginx's r->keepalive).
    bool keep_alive() const;
    // The head read so far, from `received` (as step() last had it, or grown since), goes
    // into `bytes`, and the request's views (request line, header fields) into them: a
    // buffer the body is read into next may move its bytes.
    void keep_head(std::string_view received, std::pmr::string& bytes);

private:
    Step refuse(int status, std::string message);
    // Each parses one line: nullopt when it was taken and the next may follow.
    std::optional<Step> request_line(std::string_view received);
    std::optional<Step> header_line(std::string_view received);
    Step header_done();
    bool fits(std::size_t begin, std::size_t end, bool complete);
    Step too_long_header(std::string_view received, std::size_t begin);
    void move_fields(const char* to);

    const ServerSelector& selector_;
    Request& req_;
    const ir::HttpServer* server_;
    bool pipelined_;
    bool reading_headers_ = false;
    bool host_from_line_ = false;  // the absolute target named the host: Host does not choose
    std::size_t pos_ = 0;          // where the next line starts
    const char* base_ = nullptr;   // where the received bytes the fields view begin
    std::size_t line_start_ = 0;   // the request line's first byte (after empty lines)
    std::size_t buffer_end_;          // where nginx's current header buffer ends
    std::size_t large_buffers_ = 0;   // of large_client_header_buffers, taken
    std::int64_t header_count_ = 0;   // header lines taken, for max_headers
    int status_ = 0;
    std::string refusal_;
    std::string ignored_;
    std::optional<std::uint64_t> content_length_;
    bool chunked_ = false;
    enum class Connection { unset, close, keep_alive } connection_ = Connection::unset;
    // Headers nginx takes once (the index of the first in req.headers, or -1).
    int host_ = -1, content_length_header_ = -1, transfer_encoding_ = -1;
};

// A request's body as it arrives, Content-Length bytes or chunked (ngx_http_parse_chunked
// with nginx's size check): taken from the front of the received bytes, the next request
// left after it.
class RequestBody {
public:
    enum class Status { more, read, too_large, invalid };

    explicit RequestBody(const RequestHeadReader& head);

    // Takes the body's bytes from the front of `in`: appended to `body`, or dropped when
    // it is null. too_large: a chunk would take the body past `limit` (0: none).
    Status take(std::string_view& in, std::string* body, std::uint64_t limit);
    bool done() const { return done_; }  // read, or refused
    // too_large: nginx's "N+M bytes", the body so far and the chunk that is too much.
    std::string too_large_sizes() const;

private:
    bool chunked_;
    bool done_;
    std::uint64_t left_;       // of a Content-Length body
    std::uint64_t taken_ = 0;  // of a chunked body (nginx's content_length_n)
    ChunkedParser chunks_;
};

// ngx_http_process_user_agent's findings that settings act on (keepalive_disable,
// gzip_disable msie6).
struct UserAgentKind {
    bool msie6 = false;   // MSIE 4 to 6, 6 without SV1 (not Opera)
    bool safari = false;  // Safari on Mac OS X
};
UserAgentKind user_agent_kind(std::string_view ua);

}  // namespace ngxlite::runtime
