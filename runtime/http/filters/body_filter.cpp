#include "runtime/http/filters/body_filter.hpp"

#include "parser/ir/values.hpp"
#include "runtime/http/response.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <charconv>

namespace ngxlite::runtime {

namespace {

// ngx_http_complex_value_size for limit_rate and limit_rate_after: a value that is no
// size is logged and counts as 0.
std::uint64_t request_size(const ir::ComplexSize& v, RequestContext& ctx, const ActiveConfig& cfg) {
    if (!v.value) return static_cast<std::uint64_t>(v.size);
    const std::string text = expand(*v.value, ctx);
    const auto size = ir::parse_size(text);
    if (!size) cfg.log_for(ctx).write(LogLevel::error, "invalid size \"" + text + "\"" + describe(ctx), ctx.connection.id);
    return size ? static_cast<std::uint64_t>(*size) : 0;
}

// "%zx\r\n" into `line`, its end returned.
char* chunk_size_line(std::array<char, 20>& line, std::size_t size) {
    char* end = std::to_chars(line.data(), line.data() + 16, size, 16).ptr;
    *end++ = '\r';
    *end++ = '\n';
    return end;
}

}  // namespace

BodyFilters::BodyFilters(TransportStream& client, RequestContext& ctx, const ir::Location& loc, const ActiveConfig& cfg,
                         std::string_view head, bool chunked, const GzipStart& gzip)
    : client_(client), ctx_(ctx), loc_(loc), cfg_(cfg), head_(head), head_size_(head.size()), chunked_(chunked),
      start_sec_(std::chrono::system_clock::to_time_t(ctx.request.start)) {
    if (gzip.settings) {
        gzip_ = std::make_unique<GzipStream>(*gzip.settings, gzip.length);
        postpone_ = gzip.settings->postpone;
        postponing_ = postpone_ > 0;
    }
    rate_ = ctx.limit_rate ? *ctx.limit_rate : request_size(loc.limit_rate, ctx, cfg);
    ctx.limit_rate = rate_;
    if (rate_) rate_after_ = request_size(loc.limit_rate_after, ctx, cfg);
}

BodyFilters::~BodyFilters() = default;

void BodyFilters::queue(std::string_view bytes) {
    if (bytes.empty()) return;
    if (gzip_) {  // compressed with the next part
        queued_ += bytes;
        return;
    }
    if (chunked_) {
        std::array<char, 20> line;
        queued_.append(line.data(), chunk_size_line(line, bytes.size()));
    }
    queued_ += bytes;
    if (chunked_) queued_ += "\r\n";
}

Task<boost::system::error_code> BodyFilters::compress(std::string_view data, bool last) {
    std::string joined;  // queued bytes go in front of the part
    if (!queued_.empty()) {
        joined = std::exchange(queued_, {}).append(data);
        data = joined;
    }
    if (postponing_) {  // postpone_gzipping: parts held until more came, a flush, or the end
        postponed_ += data;
        if (!last && !flush_each_ && postponed_.size() <= postpone_) co_return boost::system::error_code{};
        postponing_ = false;
        joined = std::move(postponed_);
        data = joined;
    }
    using Flush = GzipStream::Flush;
    if (last && last_apart_ && !data.empty()) {  // the upstream module passes the end on its own
        if (auto ec = co_await deflate_call(data, flush_each_ ? Flush::sync : Flush::none)) co_return ec;
        data = {};
    }
    co_return co_await deflate_call(data, last ? Flush::finish : flush_each_ ? Flush::sync : Flush::none);
}

Task<boost::system::error_code> BodyFilters::flush_held() {
    if (!gzip_) co_return boost::system::error_code{};
    postponing_ = false;  // a flush ends postpone_gzipping's hold
    std::string held = std::exchange(postponed_, {}) + std::exchange(queued_, {});
    co_return co_await deflate_call(held, GzipStream::Flush::sync);
}

Task<boost::system::error_code> BodyFilters::deflate_call(std::string_view data, GzipStream::Flush flush) {
    if (!gzip_->compress(data, flush)) {
        cfg_.log_for(ctx_).write(LogLevel::alert, gzip_->error() + describe(ctx_), ctx_.connection.id);
        co_return boost::asio::error::make_error_code(boost::asio::error::operation_aborted);
    }
    const std::vector<std::string>& passes = gzip_->passes();
    for (std::size_t i = 0; i < passes.size(); ++i) {
        const bool last = gzip_->done() && i + 1 == passes.size();
        if (auto ec = co_await send(passes[i], last)) co_return ec;
    }
    if (gzip_->done()) {
        ctx_.gzip_in = gzip_->total_in();
        ctx_.gzip_out = gzip_->total_out();
    }
    co_return boost::system::error_code{};
}

Task<boost::system::error_code> BodyFilters::send(std::string_view data, bool last) {
    std::array<char, 20> size_line;
    std::string_view size_view, end_view;
    if (chunked_ && !data.empty()) {
        size_view = {size_line.data(), static_cast<std::size_t>(chunk_size_line(size_line, data.size()) - size_line.data())};
        end_view = "\r\n";
    }
    std::string last_chunk;  // with add_trailer's block
    if (chunked_ && last) {
        last_chunk = std::string(end_view) + "0\r\n" + (trailers ? trailers() : trailer_block(loc_, ctx_, ctx_.status)) + "\r\n";
        end_view = last_chunk;
    }
    // The write filter, in this frame (a coroutine of its own cost each answer a frame).
    Parts parts{std::exchange(head_, {}), queued_, size_view, data, end_view};
    std::size_t left = 0;
    for (const auto part : parts) left += part.size();
    while (left > 0) {
        std::size_t allowed = left;
        if (rate_ > 0) {
            if (const auto wait = delayed_until_ - std::chrono::steady_clock::now(); wait.count() > 0)
                co_await pause(std::chrono::ceil<std::chrono::milliseconds>(wait));  // never early: $request_time sees it
            const std::int64_t limit = allowance();
            if (limit <= 0) {
                co_await pause(std::chrono::milliseconds(-limit * 1000 / static_cast<std::int64_t>(rate_) + 1));
                continue;
            }
            allowed = std::min(allowed, static_cast<std::size_t>(limit));
        }
        std::array<asio::const_buffer, kParts> buffers;
        std::size_t room = allowed;
        for (std::size_t i = 0; i < kParts; ++i) {
            const std::size_t take = std::min(room, parts[i].size());
            buffers[i] = asio::buffer(parts[i].data(), take);
            room -= take;
        }
        client_.expires_after(loc_.send_timeout);
        auto [ec, n] = co_await write_all(client_, buffers);
        const std::uint64_t before = sent_;
        sent_ += n;
        if (ec) {
            queued_.clear();
            co_return ec;
        }
        left -= n;
        for (auto& part : parts) {
            const std::size_t done = std::min(n, part.size());
            part.remove_prefix(done);
            n -= done;
        }
        if (rate_ > 0) {  // the write filter's delay for what just went
            const auto counted = [&](std::uint64_t v) { return v > rate_after_ ? v - rate_after_ : 0; };
            const auto delay = (counted(sent_) - counted(before)) * 1000 / rate_;
            delayed_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay);
        }
    }
    queued_.clear();
    co_return boost::system::error_code{};
}

std::int64_t BodyFilters::allowance() const {
    const auto elapsed = static_cast<std::int64_t>(std::time(nullptr) - start_sec_);
    return static_cast<std::int64_t>(rate_) * (elapsed + 1) -
           (static_cast<std::int64_t>(sent_) - static_cast<std::int64_t>(rate_after_));
}

Task<void> BodyFilters::pause(std::chrono::milliseconds ms) {
    client_.timed().expires_never();  // a delayed write is no timed-out one (send_timeout restarts after)
    asio::steady_timer timer(client_.get_executor(), ms);
    auto [ec] = co_await timer.async_wait(use_tuple);
    (void)ec;
}

}  // namespace ngxlite::runtime
