#include "runtime/http/response_writer.hpp"

#include "parser/ir/values.hpp"
#include "runtime/http/response.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>

namespace ngxlite::runtime {

namespace {

// nginx's write filter for one answer: each write waits for limit_rate (after
// limit_rate_after bytes, the head counted as c->sent counts it), within send_timeout.
class ResponseWriter {
public:
    ResponseWriter(TransportStream& stream, const ir::Location& loc, std::uint64_t rate, std::uint64_t after,
                   std::time_t start_sec)
        : stream_(stream), loc_(loc), rate_(rate), after_(after), start_sec_(start_sec) {}

    std::uint64_t sent() const { return sent_; }

    Task<boost::system::error_code> write(std::string_view a, std::string_view b = {}) {
        while (!a.empty() || !b.empty()) {
            std::size_t allowed = a.size() + b.size();
            if (rate_ > 0) {
                if (const auto wait = delayed_until_ - std::chrono::steady_clock::now(); wait.count() > 0)
                    if (auto ec = co_await pause(std::chrono::duration_cast<std::chrono::milliseconds>(wait))) co_return ec;
                const auto elapsed = static_cast<std::int64_t>(std::time(nullptr) - start_sec_);
                const std::int64_t limit = static_cast<std::int64_t>(rate_) * (elapsed + 1) -
                                           (static_cast<std::int64_t>(sent_) - static_cast<std::int64_t>(after_));
                if (limit <= 0) {
                    if (auto ec = co_await pause(std::chrono::milliseconds(-limit * 1000 / static_cast<std::int64_t>(rate_) + 1)))
                        co_return ec;
                    continue;
                }
                allowed = std::min<std::size_t>(allowed, static_cast<std::size_t>(limit));
            }
            const std::string_view first = a.substr(0, allowed);
            const std::string_view second = b.substr(0, allowed - first.size());
            stream_.expires_after(loc_.send_timeout);
            const std::array<asio::const_buffer, 2> parts{asio::buffer(first.data(), first.size()),
                                                          asio::buffer(second.data(), second.size())};
            auto [ec, n] = co_await write_all(stream_, parts);
            const std::uint64_t before = sent_;
            sent_ += n;
            if (ec) co_return ec;
            a.remove_prefix(first.size());
            b.remove_prefix(second.size());
            if (rate_ > 0) {
                const auto counted = [&](std::uint64_t v) { return v > after_ ? v - after_ : 0; };
                const auto delay = (counted(sent_) - counted(before)) * 1000 / rate_;
                delayed_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay);
            }
        }
        co_return boost::system::error_code{};
    }

private:
    Task<boost::system::error_code> pause(std::chrono::milliseconds ms) {
        stream_.timed().expires_never();  // a delayed write is no timed-out one (send_timeout restarts after)
        asio::steady_timer timer(stream_.get_executor(), ms);
        auto [ec] = co_await timer.async_wait(use_tuple);
        (void)ec;
        co_return boost::system::error_code{};
    }

    TransportStream& stream_;
    const ir::Location& loc_;
    std::uint64_t rate_, after_;
    std::time_t start_sec_;
    std::uint64_t sent_ = 0;
    std::chrono::steady_clock::time_point delayed_until_{};
};

// ngx_http_complex_value_size for limit_rate and limit_rate_after: a value that is no
// size is logged and counts as 0.
std::uint64_t request_size(const ir::ComplexSize& v, RequestContext& ctx, const ActiveConfig& cfg) {
    if (!v.value) return static_cast<std::uint64_t>(v.size);
    const std::string text = expand(*v.value, ctx);
    const auto size = ir::parse_size(text);
    if (!size) cfg.log_for(ctx).write(LogLevel::error, "invalid size \"" + text + "\"" + describe(ctx), ctx.connection.id);
    return size ? static_cast<std::uint64_t>(*size) : 0;
}

// The body's memory and file parts after the head (chunked when the answer is), then the
// last chunk with the trailers.
Task<boost::system::error_code> send_parts(ResponseWriter& w, Response& resp, const ir::Location& loc,
                                           RequestContext& ctx, const std::string& head, bool with_body) {
    std::vector<BodyPart> parts = std::move(resp.parts);
    if (parts.empty()) {
        parts.push_back({std::move(resp.body), 0, -1});
        if (resp.file_fd >= 0) parts.push_back({{}, 0, static_cast<std::int64_t>(resp.content_length.value_or(0))});
    }
    if (!with_body) parts.clear();
    const auto chunk_size = [](std::size_t n) {
        char buf[32];
        const int len = std::snprintf(buf, sizeof buf, "%zx\r\n", n);
        return std::string(buf, static_cast<std::size_t>(len));
    };
    std::string pending = head;  // the head goes out with the first bytes of the body
    boost::system::error_code ec;
    std::vector<char> chunk;
    for (const BodyPart& part : parts) {
        if (part.length < 0) {
            if (part.bytes.empty()) continue;
            if (resp.chunked) pending += chunk_size(part.bytes.size());
            pending += part.bytes;
            if (resp.chunked) pending += "\r\n";
            continue;
        }
        chunk.resize(64 * 1024);
        std::int64_t offset = part.offset, left = part.length;
        while (left > 0) {
            const ssize_t n = ::pread(resp.file_fd, chunk.data(), static_cast<std::size_t>(std::min<std::int64_t>(left, 64 * 1024)), offset);
            if (n <= 0) break;
            offset += n;
            left -= n;
            const std::string_view data(chunk.data(), static_cast<std::size_t>(n));
            if (resp.chunked) pending += chunk_size(data.size());
            if ((ec = co_await w.write(pending, data))) co_return ec;
            pending = resp.chunked ? "\r\n" : "";
        }
    }
    if (resp.chunked) pending += "0\r\n" + trailer_block(loc, ctx, resp.status) + "\r\n";
    if (!pending.empty()) ec = co_await w.write(pending);
    co_return ec;
}

}  // namespace

// Writes an answer: the head, then the body, then the last chunk with the trailers.
// Counts what went out in ctx.
Task<boost::system::error_code> send_response(TransportStream& stream, RequestContext& ctx, Response& resp,
                                               const ir::Location& loc, const std::string& head, bool with_body,
                                               const ActiveConfig& cfg) {
    const std::uint64_t rate = ctx.limit_rate ? *ctx.limit_rate : request_size(loc.limit_rate, ctx, cfg);
    ctx.limit_rate = rate;
    const std::uint64_t after = rate ? request_size(loc.limit_rate_after, ctx, cfg) : 0;
    ResponseWriter w(stream, loc, rate, after, std::chrono::system_clock::to_time_t(ctx.request.start));
    boost::system::error_code ec;
    if (resp.parts.empty() && resp.file_fd < 0 && !resp.chunked)  // the body in memory: gathered, not copied
        ec = co_await w.write(head, with_body ? std::string_view(resp.body) : std::string_view());
    else
        ec = co_await send_parts(w, resp, loc, ctx, head, with_body);
    if (resp.file_fd >= 0) ::close(resp.file_fd);
    resp.file_fd = -1;
    ctx.bytes_sent = w.sent() + ctx.continue_bytes;
    ctx.body_bytes_sent = (w.sent() > head.size() ? w.sent() - head.size() : 0) + ctx.continue_bytes;
    co_return ec;
}

}  // namespace ngxlite::runtime
