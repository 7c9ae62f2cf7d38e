// nginx's gzip filter (ngx_http_gzip_filter_module): the header filter's decision with
// ngx_http_gzip_ok's checks (gzip_header.cpp), and the body compressed as its body filter
// compresses it, call by call, so that the bytes and their chunks are nginx's.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/http/filters/response_head.hpp"
#include "runtime/http/request.hpp"

#include <zlib.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ngxlite::runtime {

// ngx_http_gzip_header_filter after the headers filter: when the location gzips, the
// status is 200, 403 or 404, nothing encoded the body yet, it is long enough, its type
// is among gzip_types and the client takes gzip (ngx_http_gzip_ok), the head gets
// Content-Encoding: gzip, loses its length and Accept-Ranges, its ETag turns weak, and
// `r.gzip` says to compress. `upstream`: the head is an upstream's, whose Content-Type
// nginx cuts at "; charset=".
void gzip_decide(ResponseHead& r, const ir::Gzip& g, const RequestContext& ctx, bool upstream);
inline void gzip_header_filter(ResponseHead& r, const ir::Location& loc, const RequestContext& ctx, bool upstream) {
    if (loc.gzip) gzip_decide(r, *loc.gzip, ctx, upstream);  // gzip off: this check only
}

// One answer's deflate stream, fed as nginx's body filter is: each call's output goes on
// in passes, a pass being what nginx hands the next filter at once (one chunk): the
// gzip_buffers filled by the call, at most their number at a time, and at a flush or the
// end the last one too.
class GzipStream {
public:
    enum class Flush { none, sync, finish };  // a plain buffer, a flush buffer, the last one

    GzipStream(const ir::Gzip& settings, std::int64_t length);
    ~GzipStream();
    GzipStream(const GzipStream&) = delete;
    GzipStream& operator=(const GzipStream&) = delete;

    // Compresses `in`; the passes to send, in order (an empty one: a flush with nothing
    // to send), valid until the next call; false: deflate failed (`error()` says how).
    bool compress(std::string_view in, Flush flush);
    const std::vector<std::string>& passes() const { return passes_; }
    const std::string& error() const { return error_; }
    bool done() const { return done_; }
    // The body's bytes in and the gzip stream's out, for $gzip_ratio.
    std::uint64_t total_in() const { return total_in_; }
    std::uint64_t total_out() const { return total_out_; }

private:
    bool start();
    void end_pass();
    void take_buffer();  // the output buffer zlib filled goes into the pass

    const ir::Gzip& settings_;
    int window_bits_;
    int mem_level_;
    z_stream zs_{};
    bool started_ = false;
    bool done_ = false;
    std::vector<unsigned char> buffer_;  // the gzip_buffers buffer zlib writes into
    std::string pass_;
    int pass_buffers_ = 0;
    std::vector<std::string> passes_;
    std::string error_;
    std::uint64_t total_in_ = 0, total_out_ = 0;
};

// $gzip_ratio: in / out as "%ui.%02ui", rounded as nginx rounds it; empty when out is 0.
std::string gzip_ratio(std::uint64_t in, std::uint64_t out);

}  // namespace ngxlite::runtime
