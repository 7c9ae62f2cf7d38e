// An upstream's response read as nginx 1.22.1's proxy module reads it: the head
// (ngx_http_proxy_process_status_line, ngx_http_proxy_process_header and the upstream
// module's header handlers), how its body is framed (ngx_http_proxy_input_filter_init),
// and chunked bodies taken out of their framing (ngx_http_proxy_chunked_filter). The
// head is kept as views into the buffer it was read into.
#pragma once

#include "runtime/http/header_arena.hpp"
#include "runtime/http/http_parse.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ngxlite::runtime {

struct UpstreamHeader {
    std::string_view name;
    std::string_view value;
};

class UpstreamHead {
public:
    enum class Step {
        incomplete,  // more bytes are needed
        done,        // the head is size() bytes; the body's follow
        http09,      // no status line: nginx takes every byte for the body of an HTTP/0.9 200
        invalid,     // an invalid header line: error() is nginx's message
        too_big,     // no head within proxy_buffer_size bytes
    };

    // `limit`: proxy_buffer_size, the most bytes nginx reads for a head.
    UpstreamHead(std::size_t limit, ArenaAllocator memory);

    // Goes on with the head in `received`: the response's bytes from its start, the same
    // ones and more at each call (parsing resumes at the first line not yet taken).
    Step step(std::string_view received);

    std::size_t limit() const { return limit_; }
    int status() const { return status_.code; }
    std::string_view status_line() const { return status_.text; }  // "200 OK", as sent
    int version() const { return status_.version; }               // 1001 for HTTP/1.1
    std::size_t size() const { return pos_; }
    const std::string& error() const { return error_; }
    const std::pmr::vector<UpstreamHeader>& headers() const { return headers_; }
    // The first header `name` (any case), as nginx's headers_in pointers keep the first.
    std::optional<std::string_view> find(std::string_view name) const;

    // The last Content-Length's value, when it is one (ngx_atoof) and not chunked.
    std::optional<std::uint64_t> content_length() const { return chunked_ ? std::nullopt : content_length_; }
    bool chunked() const { return chunked_; }  // a Transfer-Encoding names "chunked"
    // Connection names "close", or the status line's version is below HTTP/1.1.
    bool connection_close() const { return connection_close_; }

private:
    void note(const HeaderLine& h);

    std::size_t limit_;
    std::size_t pos_ = 0;
    bool status_done_ = false;
    StatusLine status_;
    std::pmr::vector<UpstreamHeader> headers_;
    std::optional<std::uint64_t> content_length_;
    bool chunked_ = false;
    bool connection_close_ = false;
    std::string error_;
};

// How the body after a head is delimited (ngx_http_proxy_input_filter_init).
enum class BodyFraming {
    none,         // 204, 304, a HEAD's answer, or Content-Length 0
    length,       // Content-Length bytes
    chunked,      // chunks up to the last one and its trailers
    until_close,  // the rest of the connection (no length, or an HTTP/0.9 answer)
};
BodyFraming body_framing(const UpstreamHead& head, bool head_request);

// One read of a chunked body, its chunks' data moved together to the front of the bytes
// (so it goes on as one piece, as nginx's chunked filter joins a read's chunks).
struct Dechunked {
    enum class Status { more, done, invalid } status = Status::more;
    std::size_t data = 0;        // bytes of chunk data now at the front
    bool after_last = false;     // done, with bytes after the last chunk (nginx warns)
};
Dechunked dechunk(ChunkedParser& parser, char* bytes, std::size_t size);

}  // namespace ngxlite::runtime
