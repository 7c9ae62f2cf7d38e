// HTTP/1.x parsing as nginx 1.22.1 does it (ngx_http_parse.c): the request line, an
// upstream's status line, header lines (a client's or an upstream's), the complex URI, the
// Host value and chunked bodies (both sides). The parsers work on
// views into the connection's buffer and allocate nothing; each call starts again from
// its `pos` (a head block is parsed again as more of it arrives, which costs less than
// keeping state across reads for blocks of at most 4 x 8k).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

enum class ParseStatus {
    ok,            // a line was parsed; `pos` is past it
    again,         // the bytes end inside the line
    header_done,   // the empty line that ends the header block
    invalid_method,
    invalid_request,
    invalid_version,
    invalid_09_method,  // HTTP/0.9 allows only GET
    invalid_header,
};

struct RequestLine {
    std::string_view text;    // the line without its CR LF, as $request
    std::string_view method;
    bool absolute = false;    // an absolute-form target, "http://host:port/..."
    std::string_view host;    // its "host:port" (may be empty: "http:///x", which nginx refuses)
    std::string_view target;  // from the path on ("/" alone for "http://host"), as $request_uri
    bool empty_path = false;  // "http://host?args": the target starts with '?'
    std::string_view protocol;  // from "HTTP/" to the line's end, as $server_protocol; empty for 0.9
    int version = 9;          // major * 1000 + minor; 9 for HTTP/0.9 (no version)
};

// Parses the request line at `pos` (empty lines before it are skipped, as nginx does).
ParseStatus parse_request_line(std::string_view in, std::size_t& pos, RequestLine& line);

struct HeaderLine {
    std::string_view name;
    std::string_view value;   // without the spaces around it
    // From the name to the value's end, or to the refused byte: what nginx logs.
    std::string_view logged;
    char refused = 0;         // invalid_header: the byte at logged's end
    bool invalid_name = false;  // characters nginx's name table refuses: ignore_invalid_headers skips it
};

// Parses one header line of a request at `pos`: ok, header_done, again or invalid_header.
ParseStatus parse_header_line(std::string_view in, std::size_t& pos, HeaderLine& header, bool allow_underscores);

// The same for an upstream's response (nginx passes r->upstream): underscores allowed,
// and a line starting "HTTP/" skipped (IIS may repeat its status line).
ParseStatus parse_response_header_line(std::string_view in, std::size_t& pos, HeaderLine& header);

struct StatusLine {
    int code = 0;
    std::string_view text;  // from the code to the line's end, as nginx's status_line ("200 OK")
    int version = 0;        // major * 1000 + minor
};

// ngx_http_parse_status_line at `pos`: ok, again, or invalid_request for anything that
// is not "HTTP/major.minor code[ text]" (nginx then takes the answer for HTTP/0.9).
ParseStatus parse_status_line(std::string_view in, std::size_t& pos, StatusLine& line);

// ngx_atoof: decimal digits only, no sign, no overflow past off_t; nullopt otherwise.
std::optional<std::uint64_t> parse_offset(std::string_view digits);

struct ParsedUri {
    std::string path;       // percent-decoded, "." and ".." resolved
    std::string_view args;  // after the first '?' of the raw target, up to a '#'
    bool has_args = false;
};

// ngx_http_parse_complex_uri on a request target: nullopt where nginx answers 400 (a bad
// escape, %00, ".." above the root). Simple targets come out as they are.
std::optional<ParsedUri> parse_complex_uri(std::string_view target, bool empty_path, bool merge_slashes);

// ngx_http_validate_host: the host lower-cased, without its port and a trailing dot;
// nullopt for an empty host, "..", '/', or a control character or space.
std::optional<std::string> validate_host(std::string_view host);

// ngx_http_parse_chunked for request bodies and upstream responses (extensions and
// trailers skipped, bare LF allowed as in 1.22.1). Feed it the received bytes: it consumes framing, and stops at each run of
// chunk data for the caller to take.
class ChunkedParser {
public:
    enum class Status { data, again, done, invalid };

    // Consumes framing from the front of `in`. data: chunk_left() bytes of chunk data
    // start at in's front; again: `in` is used up; done: `in` starts after the body.
    Status parse(std::string_view& in);
    // Bytes of the current chunk not yet taken.
    std::uint64_t chunk_left() const { return size_; }
    // `n` bytes (at most chunk_left()) of chunk data were taken by the caller.
    void take(std::uint64_t n);

private:
    enum class State {
        chunk_start, chunk_size, extension, extension_lf, data, after_data, after_data_lf,
        last_extension, last_extension_lf, trailer, trailer_lf, trailer_header, trailer_header_lf,
    };
    State state_ = State::chunk_start;
    std::uint64_t size_ = 0;
};

}  // namespace ngxlite::runtime
