#include "runtime/http/proxy/upstream_response.hpp"

#include "runtime/core/text.hpp"

#include <algorithm>
#include <cstring>

namespace ngxlite::runtime {

UpstreamHead::UpstreamHead(std::size_t limit, ArenaAllocator memory) : limit_(limit), headers_(memory) {}

UpstreamHead::Step UpstreamHead::step(std::string_view received) {
    // nginx reads a head into one buffer of proxy_buffer_size: bytes past it are no head.
    const std::string_view head = received.substr(0, limit_);
    const Step more = head.size() == limit_ ? Step::too_big : Step::incomplete;
    if (!status_done_) {
        std::size_t pos = pos_;
        const ParseStatus status = parse_status_line(head, pos, status_);
        if (status == ParseStatus::again) return more;
        if (status != ParseStatus::ok) {
            status_.version = 9;
            connection_close_ = true;
            return Step::http09;
        }
        pos_ = pos;
        status_done_ = true;
        connection_close_ = status_.version < 1001;
    }
    for (;;) {
        HeaderLine h;
        std::size_t pos = pos_;
        switch (parse_response_header_line(head, pos, h)) {
        case ParseStatus::ok:
            note(h);
            pos_ = pos;
            break;
        case ParseStatus::header_done:
            pos_ = pos;
            return Step::done;
        case ParseStatus::again: return more;
        default:
            error_ = "upstream sent invalid header: \"" + std::string(h.logged) + hex_byte(h.refused) + "...\"";
            return Step::invalid;
        }
    }
}

// The upstream module's handlers of the headers that frame the body: the last
// Content-Length counts (1.22 takes duplicates), "chunked" or "close" anywhere in the value.
void UpstreamHead::note(const HeaderLine& h) {
    headers_.push_back({h.name, h.value});
    if (iequal(h.name, "Content-Length"))
        content_length_ = parse_offset(h.value);
    else if (iequal(h.name, "Transfer-Encoding"))
        chunked_ = chunked_ || icontains(h.value, "chunked");
    else if (iequal(h.name, "Connection"))
        connection_close_ = connection_close_ || icontains(h.value, "close");
}

std::optional<std::string_view> UpstreamHead::find(std::string_view name) const {
    for (const auto& h : headers_)
        if (iequal(h.name, name)) return h.value;
    return std::nullopt;
}

BodyFraming body_framing(const UpstreamHead& head, bool head_request) {
    if (head.status() == 204 || head.status() == 304 || head_request) return BodyFraming::none;
    if (head.chunked()) return BodyFraming::chunked;
    if (const auto length = head.content_length()) return *length == 0 ? BodyFraming::none : BodyFraming::length;
    return BodyFraming::until_close;
}

Dechunked dechunk(ChunkedParser& parser, char* bytes, std::size_t size) {
    Dechunked out;
    std::string_view in(bytes, size);
    for (;;) {
        switch (parser.parse(in)) {
        case ChunkedParser::Status::data: {
            const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(parser.chunk_left(), in.size()));
            if (in.data() != bytes + out.data) std::memmove(bytes + out.data, in.data(), n);
            out.data += n;
            in.remove_prefix(n);
            parser.take(n);
            break;
        }
        case ChunkedParser::Status::again: return out;
        case ChunkedParser::Status::done:
            out.status = Dechunked::Status::done;
            out.after_last = !in.empty();
            return out;
        case ChunkedParser::Status::invalid:
            out.status = Dechunked::Status::invalid;
            return out;
        }
    }
}

}  // namespace ngxlite::runtime
