// What a request's phases, content handlers and header filters share: the Response they
// fill in and send, and their entry points. Defined by nginx's module: phases.cpp (find
// location, rewrite phases, internal redirects), modules/ (realip, static and index,
// try_files, rewrite's `return`, headers), response.cpp (error answers, Location),
// filters/ and http_filters.cpp (the header filters).
#pragma once

#include "runtime/core/active_config.hpp"
#include "runtime/core/address_rules.hpp"
#include "runtime/http/filters/response_head.hpp"
#include "runtime/http/request.hpp"
#include "runtime/http/modules/rewrite.hpp"

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/stat.h>

namespace ngxlite::runtime {

// A piece of a body: bytes in memory, or (length >= 0) a region of the response's file.
struct BodyPart {
    std::string bytes;
    std::int64_t offset = 0;
    std::int64_t length = -1;
};

// What a handler answers: its head (nginx's headers_out) and body.
struct Response : ResponseHead {
    std::string body;
    int file_fd = -1;  // a static file streamed after the header
    std::int64_t file_size = 0;  // its length (gzip takes the Content-Length away)
    bool close = false;
    bool drop_after = false;  // nginx's filter_finalize: the connection is dropped once it is out
    bool special = false;  // nginx's own page for the status: error_page may replace it
    std::vector<BodyPart> parts;  // the range filter's body; empty: `body`, then the whole file
};

// An internal redirect decided by try_files, index or error_page (a URI or @name).
struct Redirect {
    bool active = false;
    std::string uri;
    std::string args;
    bool args_present = false;  // $args is "" rather than "-" (see Request::args_present)
    const ir::Location* named = nullptr;
};

struct Route {
    const ir::Location* location = nullptr;
    ScriptResult script;  // respond: `return` or a redirect answers the request
    int error = 0;        // 413, 500 (a rewrite cycle), 404 (an internal location), 301 (auto_redirect)
    std::string redirect;  // the 301's target
};

// ngx_http_map_uri_to_path: the file of `uri` in `loc` (root + URI, or the alias in place
// of the location's prefix; a regex location's alias is the whole path), $request_filename.
std::string file_path(const ir::Location& loc, std::string_view uri, const RequestContext& ctx);
// $document_root: the root, or the alias, evaluated.
std::string document_root(const ir::Location& loc, const RequestContext& ctx);

// A file opened as ngx_open_file_wrapper opens it: fd, or -1 with errno and the call
// that failed ("open()", "openat()"), for nginx's messages.
struct OpenedFile {
    int fd = -1;
    int err = 0;
    const char* failed = "open()";
};
// Opens `path` with `flags` under the location's disable_symlinks (and its from=).
OpenedFile open_file(const std::string& path, int flags, const ir::Location& loc, const RequestContext& ctx);
// stat() of `path`, or, when symlinks are checked, fstat() of it so opened; false on
// failure, with why in `failure` when given.
bool file_info(const std::string& path, struct stat& st, const ir::Location& loc, const RequestContext& ctx,
               OpenedFile* failure = nullptr);

// ngx_escape_uri(NGX_ESCAPE_URI).
std::string escape_uri(std::string_view uri);
// The answer's Location: made absolute (absolute_redirect and its kin) when relative.
void set_location(ResponseHead& r, std::string_view target, const RequestContext& ctx);

// The answer `status` with nginx's page for it (and its rule for closing the connection).
void set_error(Response& r, int status, bool tokens);
// The type {} of a path's extension, or default_type.
const std::string& mime_type(const ir::Location& loc, std::string_view path);
// `expires`: the Expires and Cache-Control values for a successful answer at `now` (the
// time its Date says), or nullopt.
std::optional<std::pair<std::string, std::string>> expires_headers(const ir::Location& loc,
                                                                   std::optional<std::time_t> last_modified, std::time_t now);
// expires and add_header for the answer, as the location says.
void add_location_headers(ResponseHead& r, const ir::Location& loc, RequestContext& ctx, std::time_t now);
// ngx_next_temp_number: temporary files' names and multipart boundaries share it.
std::uint64_t next_temp_number();
// ngx_parse_http_time.
std::optional<std::time_t> parse_http_time(std::string_view v);
// The not-modified filter (If-Unmodified-Since, If-Match: 412; If-Modified-Since with
// if_modified_since, If-None-Match: 304), on a 200 before add_header.
void not_modified_filter(Response& r, const ir::Location& loc, const RequestContext& ctx);
// The range filter on a static file's 200 (Range, If-Range, max_ranges): 206 with one
// part or multipart/byteranges, 416, or Accept-Ranges.
void range_filter(Response& r, const ir::Location& loc, const RequestContext& ctx);
// The realip module: the client a trusted proxy names, once per request.
void apply_real_ip(const ir::Location& loc, RequestContext& ctx);
// ngx_http_get_forwarded_addr's walk of X-Forwarded-For (realip, geo's proxy): the last
// address ("addr[:port]"), or with `recursive` the last one not `trusted`; "" for none.
std::string forwarded_address(const Request& request, const std::vector<ir::AccessRule>& trusted, bool recursive);
// geo: the value for `address` (text; unparsable: 255.255.255.255 as nginx), after a
// trusted `proxy`'s X-Forwarded-For.
std::string geo_value(const ir::Geo& geo, std::string_view address, const RequestContext& ctx);
// An internal redirect to "uri?args".
Redirect redirect_to(std::string_view target);
void serve_static(Response& r, Redirect& next, const ir::Location& loc, const RequestContext& ctx, const ActiveConfig& cfg);
bool try_files(const ir::TryFiles& tf, Response& r, Redirect& next, const ir::Location& loc, RequestContext& ctx,
               const ActiveConfig& cfg);
void answer_return(Response& r, const ScriptResult& ret, const ir::Location& loc, const RequestContext& ctx);
Route route_request(const ir::HttpServer& server, RequestContext& ctx, std::optional<std::uint64_t> content_length,
                    const ActiveConfig& cfg, int& uri_changes, const ir::Location* named);
bool follow(const Redirect& next, RequestContext& ctx, int& uri_changes, const ActiveConfig& cfg);
// client_body_buffer_size and client_body_in_file_only: a body read for a handler that
// outgrows the buffer (any body, with in_file_only) is also written to a temporary file of
// client_body_temp_path, as nginx's ($request_body_file); false (a 500) when it cannot be.
bool write_body_file(const ir::Location& loc, RequestContext& ctx, bool chunked, const ActiveConfig& cfg);

}  // namespace ngxlite::runtime
