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

std::string describe(const RequestContext& ctx, std::string_view upstream) {
    std::string s = ", client: " + ctx.remote_addr();
    s += ", server: " + (ctx.server ? ctx.server->server_name : std::string());
    if (!ctx.request.request_line.empty()) s.append(", request: \"").append(ctx.request.request_line).append("\"");
    if (!upstream.empty()) s += ", upstream: \"" + std::string(upstream) + "\"";
    // The Host header as it came (nginx's r->headers_in.host), port and case kept.
    if (const std::string_view* host = ctx.request.header("Host")) s.append(", host: \"").append(*host).append("\"");
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

void set_error(Response& r, int status, bool tokens) {
    r.status = status;
    r.special = true;
    if (status >= 494 && status <= 497) {
        // nginx's own codes, answered as 400 with pages of their own; they keep their
        // code until error_page has looked for it, and go out as 400.
        static constexpr const char* texts[] = {"Request Header Or Cookie Too Large", "The SSL certificate error",
                                                "No required SSL certificate was sent",
                                                "The plain HTTP request was sent to HTTPS port"};
        const std::string text = texts[status - 494];
        r.body = "<html>\r\n<head><title>400 " + text + "</title></head>\r\n<body>\r\n"
                 "<center><h1>400 Bad Request</h1></center>\r\n<center>" + text + "</center>\r\n"
                 "<hr><center>" + server_header(tokens) + "</center>\r\n</body>\r\n</html>\r\n";
        r.content_type = "text/html";
        r.content_length = r.body.size();
        r.close = true;
        return;
    }
    if (*status_text(status) == '\0') {
        r.content_length = 0;  // nginx has no page for this status: an empty body
    } else {
        r.body = error_page(status, tokens);
        r.content_type = "text/html";
        r.content_length = r.body.size();
    }
    // nginx closes the connection after these errors (ngx_http_special_response_handler),
    // and after those found before the request's headers were complete.
    if (status == 400 || status == 413 || status == 414 || status == 408 || status == 421 || status == 494 ||
        status == 495 || status == 496 || status == 497 || status == 500 || status == 501)
        r.close = true;
}

std::string escape_uri(std::string_view uri) {
    // ngx_escape_uri's NGX_ESCAPE_URI table.
    return percent_escape(uri, [](unsigned char c) {
        return c <= 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '%' || c == '<' || c == '>' || c == '?' ||
               c == '\\' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}';
    });
}

void set_location(ResponseHead& r, std::string_view target, const RequestContext& ctx) {
    // A relative target nginx makes absolute itself goes out early; any other is a header
    // of the list, in its place.
    if (!target.empty() && target[0] == '/' && (!ctx.location || ctx.location->absolute_redirect))
        r.location = r.headers.keep(absolute_redirect(target, ctx));
    else
        r.headers.add("Location", target);
}

}  // namespace ngxlite::runtime
