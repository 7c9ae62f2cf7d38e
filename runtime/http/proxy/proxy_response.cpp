#include "runtime/http/proxy/proxy_response.hpp"

#include "runtime/http/handlers.hpp"
#include "runtime/http/response.hpp"
#include "runtime/http/proxy/proxy_headers.hpp"
#include "runtime/core/text.hpp"

#include <algorithm>
#include <ctime>
#include <iterator>

namespace ngxlite::runtime {

namespace {

// Headers nginx does not pass from an upstream response (ngx_http_proxy_hide_headers),
// plus the ones it writes itself.
bool hidden(std::string_view name, const ir::ProxySettings& p) {
    static constexpr std::string_view always[] = {"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length",
                                                  "Content-Type", "Last-Modified"};
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

// `expires`' Expires and Cache-Control, for the statuses nginx's headers filter serves.
std::optional<std::pair<std::string, std::string>> expires_for(const UpstreamHead& head, const ir::Location& loc,
                                                               bool add, std::time_t now) {
    if (loc.expires == ir::Location::Expires::off || !add) return std::nullopt;
    std::optional<std::time_t> modified;
    if (const auto v = head.find("Last-Modified")) {
        std::tm tm{};
        if (::strptime(std::string(*v).c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) modified = ::timegm(&tm);
    }
    return expires_headers(loc, modified, now);
}

// The upstream's headers in the order it sent them, less the hidden ones; `expires`
// replaces its Expires and Cache-Control in place (or adds them after), and a Location
// keeps its place unless it went early.
void append_upstream_headers(std::string& out, const UpstreamHead& head, const ir::ProxySettings& p,
                             const RequestContext& ctx,
                             const std::optional<std::pair<std::string, std::string>>& expires,
                             const std::optional<std::string>& location, bool location_early) {
    bool expires_sent = false, cache_control_sent = false;
    for (const auto& h : head.headers()) {
        if (expires && iequal(h.name, "Expires")) {
            if (!std::exchange(expires_sent, true)) append_header(out, "Expires", expires->first);
        } else if (expires && iequal(h.name, "Cache-Control")) {
            if (!std::exchange(cache_control_sent, true)) append_header(out, "Cache-Control", expires->second);
        } else if (iequal(h.name, "Location")) {
            if (!location_early) append_header(out, h.name, location ? *location : h.value);
        } else if (!hidden(h.name, p)) {
            const auto rewritten = rewrite_header(p, h.name, h.value, ctx);
            append_header(out, h.name, rewritten ? std::string_view(*rewritten) : std::string_view(h.value));
        }
    }
    if (expires && !expires_sent) append_header(out, "Expires", expires->first);
    if (expires && !cache_control_sent) append_header(out, "Cache-Control", expires->second);
}

}  // namespace

std::string client_response_head(const UpstreamHead& head, const ir::Location& loc, const RequestContext& ctx,
                                 const ClientFraming& framing) {
    const ir::ProxySettings& p = *loc.proxy;
    std::string out;
    out.reserve(512);
    // The upstream's status line as it came; error_page's status with nginx's text for it.
    out.append("HTTP/1.1 ");
    if (ctx.status_override)
        out.append(std::to_string(framing.status)).append(" ").append(status_text(framing.status));
    else
        out.append(head.status_line());
    out.append("\r\n");
    append_header(out, "Server", server_header(loc.server_tokens));
    const std::time_t now = std::time(nullptr);  // one clock reading for Date and Expires
    append_header(out, "Date", http_date(now));
    if (const auto v = head.find("Content-Type")) append_header(out, "Content-Type", *v);
    if (const auto length = head.content_length(); length && !framing.chunked)  // chunked for add_trailer
        append_header(out, "Content-Length", std::to_string(*length));
    if (const auto v = head.find("Last-Modified")) append_header(out, "Last-Modified", *v);
    static constexpr int with_headers[] = {200, 201, 204, 206, 301, 302, 303, 304, 307, 308};
    const bool add = std::find(std::begin(with_headers), std::end(with_headers), framing.status) != std::end(with_headers);
    // proxy_redirect, then nginx's header filter: a Location it rewrote to a relative
    // one becomes absolute and goes early; any other keeps its place as sent.
    std::optional<std::string> location;
    bool location_early = false;
    if (const auto v = head.find("Location")) {
        location = rewrite_location(p, *v, ctx);
        location_early = location && location->starts_with("/");
        if (location_early) append_header(out, "Location", absolute_redirect(*location, ctx));
    }
    if (framing.chunked) out += "Transfer-Encoding: chunked\r\n";
    out += framing.keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    if (framing.keep_alive && loc.keepalive_header >= 0)
        append_header(out, "Keep-Alive", "timeout=" + std::to_string(loc.keepalive_header));
    append_upstream_headers(out, head, p, ctx, expires_for(head, loc, add, now), location, location_early);
    for (const auto& h : loc.add_headers)
        if (add || h.always)
            if (std::string v = expand(h.value, ctx); !v.empty()) append_header(out, h.name, v);
    out += "\r\n";
    return out;
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
