#include "runtime/http/response.hpp"

#include "runtime/core/text.hpp"
#include "runtime/http/handlers.hpp"

#include <algorithm>
#include <iterator>

namespace ngxlite::runtime {

bool expects_trailers(const ir::Location& loc, int status) {
    const bool safe = status == 200 || status == 201 || status == 206 || status == 301 || status == 302 || status == 303 ||
                      status == 307 || status == 308;
    return std::any_of(loc.add_trailers.begin(), loc.add_trailers.end(), [&](const ir::AddHeader& t) { return safe || t.always; });
}

std::string trailer_block(const ir::Location& loc, RequestContext& ctx, int status) {
    static constexpr int kinds[] = {200, 201, 204, 206, 301, 302, 303, 304, 307, 308};
    const bool ok = std::find(std::begin(kinds), std::end(kinds), status) != std::end(kinds);
    std::string block;
    for (const auto& t : loc.add_trailers) {
        if (!ok && !t.always) continue;
        std::string v = expand(t.value, ctx);
        if (v.empty()) continue;
        append_header(block, t.name, v);
        ctx.response_trailers.emplace_back(t.name, std::move(v));
    }
    return block;
}

std::string_view http_date(std::time_t t) {
    // Formatted once a second per thread, as nginx caches ngx_cached_http_time: most
    // calls are for the current time.
    thread_local std::time_t cached_at = -1;
    thread_local char cached[64];
    if (t != cached_at) {
        std::tm tm{};
        ::gmtime_r(&t, &tm);
        std::strftime(cached, sizeof cached, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached_at = t;
    }
    return cached;
}

std::string server_header(bool tokens) { return tokens ? "ngxlite/" NGXLITE_VERSION : "ngxlite"; }

std::string absolute_redirect(std::string_view uri, const RequestContext& ctx) {
    const ir::Location* loc = ctx.location;
    if (uri.empty() || uri[0] != '/' || (loc && !loc->absolute_redirect)) return std::string(uri);
    // ngx_http_header_filter: the server's name (server_name_in_redirect), else the
    // request's host, else the address the connection came to.
    std::string host;
    if (loc && loc->server_name_in_redirect)
        host = ctx.server ? ctx.server->server_name : std::string();
    else if (!ctx.request.host.empty())
        host = ctx.request.host;
    else
        host = ctx.connection.server_addr.find(':') != std::string::npos && ctx.connection.server_port
                   ? "[" + ctx.connection.server_addr + "]"
                   : ctx.connection.server_addr;  // an IPv6 address in brackets; "unix:PATH" as it is
    std::string out = (ctx.connection.ssl ? "https://" : "http://") + host;
    const std::uint16_t port = ctx.connection.server_port;  // none for a unix socket
    if ((!loc || loc->port_in_redirect) && port && port != (ctx.connection.ssl ? 443 : 80)) out += ":" + std::to_string(port);
    return out + std::string(uri);
}

std::optional<std::pair<std::string, std::string>> expires_headers(const ir::Location& loc,
                                                                   std::optional<std::time_t> last_modified, std::time_t now) {
    using Expires = ir::Location::Expires;
    switch (loc.expires) {
    case Expires::off: return std::nullopt;
    case Expires::epoch: return std::pair{std::string("Thu, 01 Jan 1970 00:00:01 GMT"), std::string("no-cache")};
    case Expires::max: return std::pair{std::string("Thu, 31 Dec 2037 23:55:55 GMT"), std::string("max-age=315360000")};
    default: break;
    }
    std::time_t at = 0;
    std::int64_t max_age = 0;
    if (loc.expires == Expires::daily) {  // ngx_next_time: that time of day, today or tomorrow
        std::tm tm{};
        ::localtime_r(&now, &tm);
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        at = std::mktime(&tm) + loc.expires_seconds;
        if (at <= now) at += 86400;
        max_age = at - now;
    } else if (loc.expires == Expires::access || !last_modified) {
        at = now + loc.expires_seconds;
        max_age = loc.expires_seconds;
    } else {
        at = *last_modified + loc.expires_seconds;
        max_age = at - now;
    }
    const bool no_cache = loc.expires_seconds < 0 || max_age < 0;
    return std::pair{std::string(http_date(at)), no_cache ? std::string("no-cache") : "max-age=" + std::to_string(max_age)};
}

std::string describe(const RequestContext& ctx, std::string_view upstream) {
    std::string s = ", client: " + ctx.remote_addr();
    s += ", server: " + (ctx.server ? ctx.server->server_name : std::string());
    if (!ctx.request.request_line.empty()) s += ", request: \"" + ctx.request.request_line + "\"";
    if (!upstream.empty()) s += ", upstream: \"" + std::string(upstream) + "\"";
    // The Host header as it came (nginx's r->headers_in.host), port and case kept.
    if (const std::string* host = ctx.request.header("Host")) s += ", host: \"" + *host + "\"";
    return s;
}

const char* status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Moved Temporarily";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Time-out";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Requested Range Not Satisfiable";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Temporarily Unavailable";
    case 504: return "Gateway Time-out";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "";
    }
}

std::string error_page(int status, bool server_tokens) {
    // nginx's pages for 302 and 401 differ from their status lines ("Moved Temporarily",
    // "Unauthorized").
    const char* text = status == 302 ? "Found" : status == 401 ? "Authorization Required" : status_text(status);
    const std::string title = std::to_string(status) + " " + text;
    return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
           "</h1></center>\r\n<hr><center>" + server_header(server_tokens) + "</center>\r\n</body>\r\n</html>\r\n";
}

}  // namespace ngxlite::runtime
