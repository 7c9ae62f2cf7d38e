#include "runtime/http/proxy/proxy_response.hpp"

#include "runtime/http/handlers.hpp"
#include "runtime/http/response.hpp"
#include "runtime/http/proxy/proxy_headers.hpp"
#include "runtime/core/text.hpp"

#include <algorithm>
#include <ctime>

namespace ngxlite::runtime {

namespace {

// Headers nginx does not pass from an upstream response (ngx_http_proxy_hide_headers),
// plus the ones it writes itself.
bool hidden(std::string_view name, const ir::ProxySettings& p) {
    static constexpr std::string_view always[] = {"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length",
                                                  "Content-Type"};
    static constexpr std::string_view by_default[] = {"Date", "Server", "X-Pad", "X-Accel-Expires",
                                                      "X-Accel-Redirect", "X-Accel-Limit-Rate", "X-Accel-Buffering",
                                                      "X-Accel-Charset"};
    for (auto h : always)
        if (iequal(h, name)) return true;
    for (const auto& h : p.hide_headers)
        if (iequal(h, name)) return true;
    for (auto h : by_default)
        if (iequal(h, name))
            return std::none_of(p.pass_headers.begin(), p.pass_headers.end(), [&](const auto& x) { return iequal(x, name); });
    return false;
}

}  // namespace

void upstream_headers_out(ResponseHead& out, const UpstreamHead& head, const ir::Location& loc, const RequestContext& ctx) {
    const ir::ProxySettings& p = *loc.proxy;
    out.status = ctx.status;
    // The upstream's status line as it came; error_page's status with nginx's text for it.
    if (!ctx.status_override) out.status_line = head.status_line();
    if (const auto v = head.find("Content-Type")) out.content_type = *v;
    out.content_length = head.content_length();
    // proxy_redirect, then nginx's header filter: a Location it rewrote to a relative
    // one becomes absolute and goes early; any other keeps its place as sent.
    std::optional<std::string_view> location;
    bool location_early = false;
    if (const auto v = head.find("Location"))
        if (const auto rewritten = rewrite_location(p, *v, ctx)) {
            location_early = rewritten->starts_with("/");
            if (location_early)
                out.location = out.headers.keep(absolute_redirect(*rewritten, ctx));
            else
                location = out.headers.keep(*rewritten);
        }
    out.headers.reserve(head.headers().size() + loc.add_headers.size() + 2);
    for (const auto& h : head.headers()) {
        if (iequal(h.name, "Location")) {
            if (!location_early) out.headers.add_view(h.name, location ? *location : h.value);
        } else if (!hidden(h.name, p)) {
            // Last-Modified stays in its place (nginx's headers_out.last_modified is the
            // upstream's line); its time is what `expires` counts from.
            if (!out.last_modified_listed && iequal(h.name, "Last-Modified")) {
                out.last_modified = parse_http_time(h.value);
                out.last_modified_listed = true;
            }
            const auto rewritten = rewrite_header(p, h.name, h.value, ctx);
            out.headers.add_view(h.name, rewritten ? out.headers.keep(*rewritten) : h.value);
        }
    }
}

std::string upgrade_response_head(const UpstreamHead& head, const ir::Location& loc) {
    std::string out = "HTTP/1.1 101 Switching Protocols\r\nServer: " + server_header(loc.server_tokens) +
                      "\r\nDate: " + std::string(http_date(std::time(nullptr))) + "\r\nConnection: upgrade\r\n";
    for (const auto& h : head.headers())
        if (!hidden(h.name, *loc.proxy)) append_header(out, h.name, h.value);
    out += "\r\n";
    return out;
}

std::string upstream_header_block(const UpstreamHead& head) {
    std::size_t size = 0;
    for (const auto& h : head.headers()) size += h.name.size() + h.value.size() + 4;
    std::string block;
    block.reserve(size);
    for (const auto& h : head.headers()) append_header(block, h.name, h.value);
    return block;
}

}  // namespace ngxlite::runtime
