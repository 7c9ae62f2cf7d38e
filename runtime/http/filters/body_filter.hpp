// nginx's body filters for one answer, whatever produced it (static, return, error pages,
// proxied): the chunked filter's framing, then the write filter. Filters that change the
// body (gzip, sub_filter) go in front of the chunked framing, in nginx's order.
#pragma once

#include "runtime/core/active_config.hpp"
#include "runtime/core/net.hpp"
#include "runtime/http/filters/gzip_filter.hpp"
#include "runtime/http/request.hpp"
#include "runtime/io/transport_stream.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

// One answer's body on its way to the client. Gzipped when the header filter said so, each
// write a call of nginx's gzip body filter; the head goes out with the body's first
// bytes; a chunked answer's parts are framed as chunks, its last chunk carrying the
// trailers; each write waits for limit_rate (after limit_rate_after bytes, the head
// counted as nginx's c->sent counts it) and is bounded by send_timeout.
class BodyFilters {
public:
    // `head`: the status line and headers, empty for an HTTP/0.9 answer; it must live
    // until the first write. limit_rate is the request's (`set $limit_rate`,
    // X-Accel-Limit-Rate), else the location's, evaluated now as nginx's write filter
    // evaluates it at the first bytes.
    // `gzip`: the gzip header filter's decision (none: the body goes as it is).
    BodyFilters(TransportStream& client, RequestContext& ctx, const ir::Location& loc, const ActiveConfig& cfg,
                std::string_view head, bool chunked, const GzipStart& gzip = {});
    ~BodyFilters();

    // A proxied body comes as nginx's upstream module passes it: its end apart from its
    // last bytes and, `unbuffered`, each part as a flush (gzip ends a deflate block there).
    void upstream_parts(bool unbuffered) {
        last_apart_ = true;
        flush_each_ = unbuffered;
    }

    // Small bytes that go out with the next write (a multipart answer's boundaries): copied.
    void queue(std::string_view bytes);
    // Whatever is queued, then `data` as the body's next part; `last`: the body ends with
    // it, and a chunked answer's last chunk follows.
    Task<boost::system::error_code> write(std::string_view data, bool last) {
        return gzip_ ? compress(data, last) : send(data, last);
    }
    bool gzipping() const { return gzip_ != nullptr; }
    // A flush without the body's end (after an upstream failed): what gzip holds goes
    // out, ending a deflate block.
    Task<boost::system::error_code> flush_held();

    std::uint64_t sent() const { return sent_; }  // $bytes_sent, the head included
    // $body_bytes_sent: after the head, chunk framing included as nginx counts it.
    std::uint64_t body_sent() const { return sent_ > head_size_ ? sent_ - head_size_ : 0; }

    // The last chunk's trailers; unset: add_trailer's block for ctx.status.
    std::function<std::string()> trailers;

private:
    static constexpr std::size_t kParts = 5;  // head, queued, chunk size, data, chunk end
    using Parts = std::array<std::string_view, kParts>;

    // The gzip filter: `data` compressed, each pass it makes sent as a part.
    Task<boost::system::error_code> compress(std::string_view data, bool last);
    Task<boost::system::error_code> deflate_call(std::string_view data, GzipStream::Flush flush);
    // The chunked framing and the write filter.
    Task<boost::system::error_code> send(std::string_view data, bool last);
    // Bytes limit_rate lets go now, or (<= 0) how far ahead of it the answer is.
    std::int64_t allowance() const;
    Task<void> pause(std::chrono::milliseconds ms);

    TransportStream& client_;
    RequestContext& ctx_;
    const ir::Location& loc_;
    const ActiveConfig& cfg_;
    std::unique_ptr<GzipStream> gzip_;
    bool last_apart_ = false, flush_each_ = false;
    bool postponing_ = false;
    std::size_t postpone_ = 0;  // postpone_gzipping's size
    std::string postponed_;  // parts postpone_gzipping holds back
    std::string_view head_;
    std::size_t head_size_;
    bool chunked_;
    std::string queued_;
    std::uint64_t rate_ = 0, rate_after_ = 0;
    std::time_t start_sec_;
    std::uint64_t sent_ = 0;
    std::chrono::steady_clock::time_point delayed_until_{};
};

}  // namespace ngxlite::runtime
