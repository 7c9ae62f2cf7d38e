// nginx's header filter (ngx_http_header_filter_module): the status line and the
// response's headers in its order.
#include "runtime/http/handlers.hpp"

#include "runtime/http/response.hpp"
#include "runtime/core/text.hpp"

namespace ngxlite::runtime {

std::string serialize_head(const Response& r, bool keep_alive, const ir::Location& loc, std::time_t now) {
    std::string h;
    h.reserve(256);
    h.append("HTTP/1.1 ").append(std::to_string(r.status)).append(" ").append(status_text(r.status)).append("\r\n");
    append_header(h, "Server", server_header(loc.server_tokens));
    append_header(h, "Date", http_date(now));
    if (!r.content_type.empty()) append_header(h, "Content-Type", r.content_type);
    if (r.content_length && !r.chunked) append_header(h, "Content-Length", std::to_string(*r.content_length));
    if (r.last_modified && !r.last_modified_listed) append_header(h, "Last-Modified", http_date(*r.last_modified));
    if (!r.location.empty()) append_header(h, "Location", r.location);
    if (r.chunked) h += "Transfer-Encoding: chunked\r\n";
    h += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    if (keep_alive && loc.keepalive_header >= 0) append_header(h, "Keep-Alive", "timeout=" + std::to_string(loc.keepalive_header));
    for (const auto& [k, v] : r.headers) append_header(h, k, v);
    if (r.accept_ranges) h += "Accept-Ranges: bytes\r\n";
    h += "\r\n";
    return h;
}

}  // namespace ngxlite::runtime
