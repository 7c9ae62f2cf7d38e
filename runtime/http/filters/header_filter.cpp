#include "runtime/http/filters/header_filter.hpp"

#include "runtime/http/response.hpp"
#include "runtime/core/text.hpp"

namespace ngxlite::runtime {

bool chunked_filter(ResponseHead& r, bool length_unknown, const ir::Location& loc, const Request& req) {
    // Not for 1xx, 204, 304 (nor an HTTP/0.9 answer's status), nor a HEAD's answer.
    if (r.status < 200 || r.status == 204 || r.status == 304 || req.method == "HEAD") return true;
    if (!length_unknown && !expects_trailers(loc, r.status)) return true;
    if (req.version >= 11 && loc.chunked_transfer_encoding) {
        r.chunked = true;
        return true;
    }
    return !length_unknown;
}

std::string serialize_head(const ResponseHead& r, bool keep_alive, const ir::Location& loc, std::time_t now) {
    std::string h;
    h.reserve(512);
    h.append("HTTP/1.1 ");
    if (r.status_line)
        h.append(*r.status_line);
    else
        h.append(std::to_string(r.status)).append(" ").append(status_text(r.status));
    h.append("\r\n");
    append_header(h, "Server", server_header(loc.server_tokens));
    append_header(h, "Date", http_date(now));
    if (!r.content_type.empty()) append_header(h, "Content-Type", r.content_type);
    if (r.content_length && !r.chunked) append_header(h, "Content-Length", std::to_string(*r.content_length));
    if (r.last_modified && !r.last_modified_listed) append_header(h, "Last-Modified", http_date(*r.last_modified));
    if (!r.location.empty()) append_header(h, "Location", r.location);
    if (r.chunked) h += "Transfer-Encoding: chunked\r\n";
    h += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    if (keep_alive && loc.keepalive_header >= 0) append_header(h, "Keep-Alive", "timeout=" + std::to_string(loc.keepalive_header));
    if (r.vary_accept_encoding) h += "Vary: Accept-Encoding\r\n";
    for (const auto& [k, v] : r.headers) append_header(h, k, v);
    if (r.accept_ranges) h += "Accept-Ranges: bytes\r\n";
    h += "\r\n";
    return h;
}

}  // namespace ngxlite::runtime
