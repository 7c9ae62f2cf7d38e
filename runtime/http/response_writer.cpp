#include "runtime/http/response_writer.hpp"

#include "runtime/http/filters/body_filter.hpp"

#include <unistd.h>

#include <algorithm>
#include <vector>

namespace ngxlite::runtime {

namespace {

// The body's memory and file parts: memory goes with the next write, a file in reads of
// 64 KiB, each written as it is read, the last with the body's end. Gzipped, the reads are
// of 32 KiB: nginx's copy filter reads a file a buffer of output_buffers (2 32k) a call
// for a filter that needs the body in memory, and gzip's chunks follow its calls.
Task<boost::system::error_code> send_parts(BodyFilters& out, Response& resp, bool with_body) {
    std::vector<BodyPart> parts = std::move(resp.parts);
    if (parts.empty()) {
        parts.push_back({std::move(resp.body), 0, -1});
        if (resp.file_fd >= 0) parts.push_back({{}, 0, resp.file_size});
    }
    if (!with_body) parts.clear();
    std::vector<char> chunk;
    const std::int64_t read_size = out.gzipping() ? 32 * 1024 : 64 * 1024;
    for (const BodyPart& part : parts) {
        if (part.length < 0) {
            out.queue(part.bytes);
            continue;
        }
        chunk.resize(static_cast<std::size_t>(read_size));
        std::int64_t offset = part.offset, left = part.length;
        while (left > 0) {
            const ssize_t n = ::pread(resp.file_fd, chunk.data(), static_cast<std::size_t>(std::min(left, read_size)), offset);
            if (n <= 0) break;
            offset += n;
            left -= n;
            const bool last = left == 0 && &part == &parts.back();
            if (auto ec = co_await out.write({chunk.data(), static_cast<std::size_t>(n)}, last)) co_return ec;
            if (last) co_return boost::system::error_code{};
        }
    }
    co_return co_await out.write({}, true);
}

}  // namespace

Task<boost::system::error_code> send_response(TransportStream& stream, RequestContext& ctx, Response& resp,
                                               const ir::Location& loc, const std::string& head, bool with_body,
                                               const ActiveConfig& cfg) {
    BodyFilters out(stream, ctx, loc, cfg, head, resp.chunked, with_body ? resp.gzip : GzipStart{});
    boost::system::error_code ec;
    if (resp.parts.empty() && resp.file_fd < 0)  // the body in memory: one write, not copied
        ec = co_await out.write(with_body ? std::string_view(resp.body) : std::string_view(), true);
    else
        ec = co_await send_parts(out, resp, with_body);
    if (resp.file_fd >= 0) ::close(resp.file_fd);
    resp.file_fd = -1;
    ctx.bytes_sent = out.sent() + ctx.continue_bytes;
    ctx.body_bytes_sent = out.body_sent() + ctx.continue_bytes;
    co_return ec;
}

}  // namespace ngxlite::runtime
