#include "runtime/http_session.hpp"

#include "runtime/header_arena.hpp"
#include "runtime/net.hpp"
#include "runtime/proxy.hpp"
#include "runtime/rewrite.hpp"
#include "runtime/text.hpp"
#include "runtime/tls.hpp"
#include "runtime/transport_stream.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace ngxlite::runtime {

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

namespace {

// What a handler answers; written in nginx's header order.
struct Response {
    int status = 200;
    std::string content_type;
    std::optional<std::uint64_t> content_length;
    std::optional<std::time_t> last_modified;
    std::string location;  // made absolute by ngxlite: sent before Connection, as nginx does
    std::vector<std::pair<std::string, std::string>> headers;  // Location as given, ETag, add_header
    std::string body;
    int file_fd = -1;  // a static file streamed after the header
    bool close = false;
    bool special = false;  // nginx's own page for the status: error_page may replace it
    bool accept_ranges = false;  // nginx's range filter adds it after every other header
};

// An internal redirect decided by try_files, index or error_page (a URI or @name).
struct Redirect {
    bool active = false;
    std::string uri;
    std::string args;
    bool args_present = false;  // $args is "" rather than "-" (see Request::args_present)
    const ir::Location* named = nullptr;
};

constexpr std::size_t kHeaderBuffer = 1024;       // client_header_buffer_size 1k
constexpr std::size_t kLargeHeaderBuffer = 8192;  // large_client_header_buffers 4 8k

// The first rule of `rules` matching `addr`, or nullptr.
const ir::AccessRule* first_match(const std::vector<ir::AccessRule>& rules, std::string_view addr) {
    if (rules.empty()) return nullptr;
    boost::system::error_code ec;
    auto address = asio::ip::make_address(addr, ec);
    if (!ec && address.is_v6() && address.to_v6().is_v4_mapped())
        address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    for (const auto& rule : rules) {
        if (rule.all) return &rule;
        if (rule.unix_socket || ec || address.is_v6() != rule.ipv6) continue;
        bool match = true;
        if (rule.ipv6) {
            const auto bytes = address.to_v6().to_bytes();
            for (std::size_t i = 0; i < 16 && match; ++i) match = (bytes[i] & rule.mask[i]) == rule.address[i];
        } else {
            const auto bytes = address.to_v4().to_bytes();
            for (std::size_t i = 0; i < 4 && match; ++i) match = (bytes[i] & rule.mask[i]) == rule.address[i];
        }
        if (match) return &rule;
    }
    return nullptr;
}

// The realip module (ngx_http_get_forwarded_addr): from a trusted peer, the header names the
// client; X-Forwarded-For's last address, or with real_ip_recursive the last one that is
// not trusted. Applied once per request, with the first level that configures it.
void apply_real_ip(const ir::Location& loc, RequestContext& ctx) {
    if (loc.real_ip_from.empty() || !ctx.real_addr.empty() || !first_match(loc.real_ip_from, ctx.connection.remote_addr)) return;
    const std::string* value = ctx.request.header(loc.real_ip_header);
    if (!value) return;
    boost::system::error_code ec;
    if (!iequal(loc.real_ip_header, "X-Forwarded-For")) {
        const auto a = asio::ip::make_address(*value, ec);
        if (!ec) ctx.real_addr = a.to_string();
        return;
    }
    std::string_view list = *value;
    std::string found;
    for (;;) {
        while (!list.empty() && (list.back() == ' ' || list.back() == ',')) list.remove_suffix(1);
        const auto cut = list.find_last_of(", ");
        const std::string_view last = cut == std::string_view::npos ? list : list.substr(cut + 1);
        const auto a = asio::ip::make_address(last, ec);
        if (ec) break;
        found = a.to_string();
        if (!loc.real_ip_recursive || cut == std::string_view::npos || !first_match(loc.real_ip_from, found)) break;
        list = list.substr(0, cut);
    }
    ctx.real_addr = std::move(found);
}

// nginx's preaccess and access phases, after the rewrite phase (a `return` answers before
// them): realip with the location's settings if the server's named no client, then the
// first allow/deny rule matching the client decides; none, allow.
bool access_phases(const ir::Location& loc, RequestContext& ctx) {
    apply_real_ip(loc, ctx);
    const ir::AccessRule* rule = first_match(loc.access_rules, ctx.remote_addr());
    return !rule || rule->allow;
}

// nginx's header name characters: letters, digits, '-', and '_' when allowed.
bool valid_header_name(std::string_view name, bool underscores) {
    return std::all_of(name.begin(), name.end(), [&](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || (c == '_' && underscores);
    });
}

// ignore_invalid_headers: headers nginx would skip, by the settings of the default server
// up to the Host header and of the server it chose after it.
void drop_ignored_headers(std::vector<std::pair<std::string, std::string>>& headers, const ir::HttpServer& chosen,
                          const ir::HttpServer& default_server) {
    const ir::HttpServer* rules = &default_server;
    std::erase_if(headers, [&](const auto& h) {
        const bool drop = rules->ignore_invalid_headers && !valid_header_name(h.first, rules->underscores_in_headers);
        if (!drop && iequal(h.first, "Host")) rules = &chosen;
        return drop;
    });
}

// Where a request's header block ends ("\r\n\r\n"), searching from `from`; 0 if not yet.
std::size_t header_block_end(const beast::flat_buffer& buffer, std::size_t from) {
    const std::string_view raw(static_cast<const char*>(buffer.data().data()), buffer.size());
    const auto end = raw.find("\r\n\r\n", from > 3 ? from - 3 : 0);
    return end == std::string_view::npos ? 0 : end + 4;
}

// A name Beast takes (an RFC 7230 token); nginx skips some of those it refuses ("X-B@d").
bool beast_token(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

using RequestParser = http::request_parser<http::string_body, ArenaAllocator>;

// Parses the header block with Beast, without the lines whose names Beast refuses and
// nginx skips (copied only when there are any); the body stays in `buffer`.
boost::system::error_code parse_header_block(beast::flat_buffer& buffer, std::size_t size,
                                             RequestParser& parser) {
    const std::string_view raw(static_cast<const char*>(buffer.data().data()), size);
    std::string kept;
    bool dropped = false;
    for (std::size_t pos = raw.find("\r\n") + 2; pos + 2 < size;) {
        const auto eol = raw.find("\r\n", pos);
        const std::string_view line = raw.substr(pos, eol - pos);
        const auto colon = line.find(':');
        const bool refused = colon != std::string_view::npos && colon > 0 && !beast_token(line.substr(0, colon)) &&
                             line.substr(0, colon).find_first_of(" \t") == std::string_view::npos;
        if (refused && !dropped) {
            kept.assign(raw.substr(0, pos));
            dropped = true;
        } else if (dropped && !refused) {
            kept += raw.substr(pos, eol + 2 - pos);
        }
        pos = eol + 2;
    }
    boost::system::error_code ec;
    if (dropped) {
        kept += "\r\n";
        parser.put(asio::buffer(kept), ec);
    } else {
        parser.put(asio::buffer(raw.data(), size), ec);
    }
    if (!ec && !parser.is_header_done()) ec = http::error::partial_message;
    if (!ec) buffer.consume(size);  // on errors the request line stays, for the log
    return ec;
}

// The Host header as nginx keeps it for server names and logs: lower case, no port.
std::string host_of(std::string_view value) {
    std::string h = lower(value);
    if (auto colon = h.rfind(':'); colon != std::string::npos && h.find(']') == std::string::npos) h.resize(colon);
    return h;
}

}  // namespace

std::string server_header(bool tokens) { return tokens ? "ngxlite/" NGXLITE_VERSION : "ngxlite"; }

namespace {

void set_error(Response& r, int status, bool tokens) {
    r.status = status;
    r.special = true;
    if (status >= 494 && status <= 497) {
        // nginx's own codes, answered as 400 with pages of their own; 495-497 keep their
        // code until error_page has looked for it, and go out as 400.
        static constexpr const char* texts[] = {"Request Header Or Cookie Too Large", "The SSL certificate error",
                                                "No required SSL certificate was sent",
                                                "The plain HTTP request was sent to HTTPS port"};
        const std::string text = texts[status - 494];
        if (status == 494) r.status = 400;
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

void add_location_headers(Response& r, const ir::Location& loc, const RequestContext& ctx, std::time_t now) {
    // add_header applies to 200, 201, 204, 206, 301, 302, 303, 304, 307, 308 unless `always`.
    static constexpr int kinds[] = {200, 201, 204, 206, 301, 302, 303, 304, 307, 308};
    const bool ok = std::find(std::begin(kinds), std::end(kinds), r.status) != std::end(kinds);
    if (ok)
        if (auto e = expires_headers(loc, r.last_modified, now)) {
            r.headers.emplace_back("Expires", std::move(e->first));
            r.headers.emplace_back("Cache-Control", std::move(e->second));
        }
    for (const auto& h : loc.add_headers) {
        if (!ok && !h.always) continue;
        std::string v = expand(h.value, ctx);
        if (!v.empty()) r.headers.emplace_back(h.name, std::move(v));
    }
}

// The type for a path's extension: the types {} in force, or nginx's built-in three.
std::string mime_type(const ir::Location& loc, std::string_view path) {
    static const ir::MimeTypes builtin = {{"html", "text/html"}, {"gif", "image/gif"}, {"jpg", "image/jpeg"}};
    const ir::MimeTypes& types = loc.types ? *loc.types : builtin;
    auto slash = path.rfind('/');
    auto dot = path.rfind('.');
    if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash)) {
        if (auto it = types.find(lower(path.substr(dot + 1))); it != types.end()) return it->second;
    }
    return loc.default_type;
}

}  // namespace

std::string absolute_redirect(std::string_view uri, const RequestContext& ctx) {
    if (uri.empty() || uri[0] != '/') return std::string(uri);
    const auto& names = ctx.server->names;
    std::string host = ctx.request.host.empty() ? (names.empty() ? ctx.connection.server_addr : names[0].name) : ctx.request.host;
    std::string out = "http://" + host;
    if (ctx.connection.server_port != 80) out += ":" + std::to_string(ctx.connection.server_port);
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
    s += ", server: " + (ctx.server && !ctx.server->names.empty() ? ctx.server->names[0].name : std::string());
    s += ", request: \"" + ctx.request.request_line + "\"";
    if (!upstream.empty()) s += ", upstream: \"" + std::string(upstream) + "\"";
    // The Host header as it came (nginx's r->headers_in.host), port and case kept.
    if (const std::string* host = ctx.request.header("Host"); host && !ctx.request.host.empty()) s += ", host: \"" + *host + "\"";
    return s;
}

namespace {

// The file of `uri` in `loc` (ngx_http_map_uri_to_path): root + URI, or the alias in
// place of the location's prefix (a regex location's alias is the whole path).
std::string file_path(const ir::Location& loc, std::string_view uri, const RequestContext& ctx) {
    if (!loc.alias.empty()) {
        std::string alias = loc.alias_template ? expand(*loc.alias_template, ctx) : loc.alias;
        if (loc.regex) return alias;
        return alias + std::string(uri.substr(std::min(uri.size(), loc.name.size())));
    }
    return (loc.root_template ? expand(*loc.root_template, ctx) : loc.root) + std::string(uri);
}

// Splits "uri?args" as ngx_http_split_args.
Redirect redirect_to(std::string_view target) {
    Redirect r;
    r.active = true;
    const auto q = target.find('?');
    r.uri = std::string(target.substr(0, q));
    if (q != std::string_view::npos) r.args = std::string(target.substr(q + 1));
    r.args_present = q != std::string_view::npos;
    return r;
}

// nginx's index module, for a URI ending in '/': the first index file that exists is an
// internal redirect to it; otherwise 403 for a directory, 404 without one.
void serve_index(Response& r, Redirect& next, const ir::Location& loc, const RequestContext& ctx, const ActiveConfig& cfg) {
    const Request& req = ctx.request;
    const std::string dir = file_path(loc, req.uri, ctx);
    struct stat st {};
    for (const auto& index : loc.index) {
        if (index.starts_with("/")) {  // an absolute index is a URI, taken as it is
            next = redirect_to(index);
            next.args = req.args;
            next.args_present = req.args_present;
            return;
        }
        if (::stat((dir + index).c_str(), &st) == 0) {
            next = redirect_to(req.uri + index);
            next.args = req.args;
            next.args_present = req.args_present;
            return;
        }
    }
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        cfg.log_for(ctx).write(LogLevel::error, "directory index of \"" + dir + "\" is forbidden" + describe(ctx), ctx.connection.id);
        set_error(r, 403, loc.server_tokens);
    } else {
        cfg.log_for(ctx).write(LogLevel::error,
                            "\"" + dir + loc.index.front() + "\" is not found (2: No such file or directory)" + describe(ctx),
                            ctx.connection.id);
        set_error(r, 404, loc.server_tokens);
    }
}

// nginx's static module: the file of the URI (a directory: 301 to it with a slash).
void serve_static(Response& r, Redirect& next, const ir::Location& loc, const RequestContext& ctx, const ActiveConfig& cfg) {
    const Request& req = ctx.request;
    if (req.method != "GET" && req.method != "HEAD" && req.method != "POST") {
        set_error(r, 405, loc.server_tokens);
        return;
    }
    if (req.uri.back() == '/') {
        serve_index(r, next, loc, ctx, cfg);
        return;
    }
    const std::string path = file_path(loc, req.uri, ctx);
    struct stat st {};
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        cfg.log_for(ctx).write(LogLevel::error, "open() \"" + path + "\" failed (" + std::to_string(err) + ": " +
                                                 std::strerror(err) + ")" + describe(ctx), ctx.connection.id);
        set_error(r, err == EACCES ? 403 : 404, loc.server_tokens);
        return;
    }
    ::fstat(fd, &st);
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        r.location = absolute_redirect(req.uri + "/" + (req.args.empty() ? "" : "?" + req.args), ctx);
        set_error(r, 301, loc.server_tokens);
        return;
    }
    if (req.method == "POST") {  // only after the file was found, as nginx
        ::close(fd);
        set_error(r, 405, loc.server_tokens);
        return;
    }
    r.status = 200;
    r.content_type = mime_type(loc, path);
    r.content_length = static_cast<std::uint64_t>(st.st_size);
    r.last_modified = st.st_mtime;
    char etag[64];
    std::snprintf(etag, sizeof etag, "\"%lx-%lx\"", static_cast<unsigned long>(st.st_mtime),
                  static_cast<unsigned long>(st.st_size));
    r.headers.emplace_back("ETag", etag);
    r.accept_ranges = true;
    if (req.method == "HEAD")
        ::close(fd);
    else
        r.file_fd = fd;
}

// nginx's try_files phase: the first file (or directory, for a name ending in '/') that
// exists becomes the URI and the location goes on; else =CODE, @name or a URI.
// Returns true when the location's content handler should run.
bool try_files(const ir::TryFiles& tf, Response& r, Redirect& next, const ir::Location& loc, RequestContext& ctx) {
    for (const auto& file : tf.files) {
        const std::string name = expand(file, ctx);
        const bool test_dir = !name.empty() && name.back() == '/';
        struct stat st {};
        if (::stat(file_path(loc, name, ctx).c_str(), &st) != 0 || S_ISDIR(st.st_mode) != test_dir) continue;
        ctx.request.uri = name;
        return true;
    }
    if (tf.code) {
        set_error(r, tf.code, loc.server_tokens);
        return false;
    }
    const std::string target = expand(tf.fallback, ctx);
    if (target.starts_with("@")) {
        next.active = true;
        next.named = find_named(ctx.server->locations, target);
        next.uri = target;
    } else {
        next = redirect_to(target);
        next.args_present = true;  // nginx's try_files leaves the arguments set, if empty
    }
    return false;
}

// `return` (and a redirecting rewrite): the code with a text, a redirect, or nginx's page.
void answer_return(Response& r, const ScriptResult& ret, const ir::Location& loc, const RequestContext& ctx) {
    r.status = ret.status;
    if (ret.status == 444) {
        r.close = true;
        return;
    }
    const bool redirect = ret.status == 301 || ret.status == 302 || ret.status == 303 || ret.status == 307 || ret.status == 308;
    if (redirect) {
        // nginx builds a relative target's absolute form itself and sends it early;
        // an absolute one is an ordinary header, sent after Connection.
        if (!ret.text.empty() && ret.text[0] == '/')
            r.location = absolute_redirect(ret.text, ctx);
        else
            r.headers.emplace_back("Location", ret.text);
        set_error(r, ret.status, loc.server_tokens);
    } else if (ret.has_text) {
        r.content_type = mime_type(loc, ctx.request.uri);
        r.body = ret.text;
        r.content_length = r.body.size();
    } else if (ret.status >= 300) {
        set_error(r, ret.status, loc.server_tokens);
    } else if (ret.status != 204) {
        r.content_type = mime_type(loc, ctx.request.uri);
        r.content_length = 0;
    }
}

struct Route {
    const ir::Location* location = nullptr;
    ScriptResult script;  // respond: `return` or a redirect answers the request
    int error = 0;        // 413, 500 (a rewrite cycle), 404 (an internal location)
};

// nginx's phases before content: server rewrite, find location (with its
// client_max_body_size check), location rewrite, and post rewrite back to find location
// while the URI changes; `uri_changes` counts down the 10 changes nginx allows a request.
// A named location (error_page, try_files) starts at its own rewrite phase.
Route route_request(const ir::HttpServer& server, RequestContext& ctx, std::optional<std::uint64_t> content_length,
                    const ActiveConfig& cfg, int& uri_changes, const ir::Location* named) {
    Route route;
    route.location = ctx.location = &server.root_location;
    if (!named) {
        route.script = run_script(server.root_location.script, ctx);
        if (route.script.next == ScriptResult::Next::respond) return route;
    }
    for (;;) {
        LocationMatch m;
        if (named) {
            m.location = named;
            named = nullptr;
        } else {
            m = find_location(server.locations, ctx.request.uri);
        }
        route.location = m.location ? m.location : &server.root_location;
        if (m.location && m.location->regex) {
            ctx.captures = std::move(m.captures);
            for (auto& [name, value] : m.named) ctx.set_variable(name, std::move(value));
        }
        const ir::Location& loc = *route.location;
        ctx.location = &loc;
        if (content_length && loc.client_max_body_size > 0 && *content_length > static_cast<std::uint64_t>(loc.client_max_body_size)) {
            cfg.log_for(ctx).write(LogLevel::error,
                                "client intended to send too large body: " + std::to_string(*content_length) + " bytes" + describe(ctx),
                                ctx.connection.id);
            route.error = 413;
            return route;
        }
        if (loc.internal && !ctx.request.internal) {
            route.error = 404;
            return route;
        }
        if (!m.location) {  // nginx skips the location rewrite phase for the server's own level
            route.script = {};
            return route;
        }
        route.script = run_script(loc.script, ctx);
        if (route.script.location) route.location = ctx.location = route.script.location;
        if (route.script.next != ScriptResult::Next::find_location) return route;
        if (--uri_changes == 0) {
            cfg.log_for(ctx).write(LogLevel::error,
                                "rewrite or internal redirection cycle while processing \"" + ctx.request.uri + "\"" + describe(ctx),
                                ctx.connection.id);
            route.error = 500;
            return route;
        }
    }
}

std::string serialize_head(const Response& r, bool keep_alive, const ir::Location& loc, std::time_t now) {
    std::string h;
    h.reserve(256);
    h.append("HTTP/1.1 ").append(std::to_string(r.status)).append(" ").append(status_text(r.status)).append("\r\n");
    append_header(h, "Server", server_header(loc.server_tokens));
    append_header(h, "Date", http_date(now));
    if (!r.content_type.empty()) append_header(h, "Content-Type", r.content_type);
    if (r.content_length) append_header(h, "Content-Length", std::to_string(*r.content_length));
    if (r.last_modified) append_header(h, "Last-Modified", http_date(*r.last_modified));
    if (!r.location.empty()) append_header(h, "Location", r.location);
    h += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
    if (keep_alive && loc.keepalive_header >= 0) append_header(h, "Keep-Alive", "timeout=" + std::to_string(loc.keepalive_header));
    for (const auto& [k, v] : r.headers) append_header(h, k, v);
    if (r.accept_ranges) h += "Accept-Ranges: bytes\r\n";
    h += "\r\n";
    return h;
}

// ngx_http_internal_redirect / ngx_http_named_location: false (and a 500) once the
// request has changed its URI too often.
bool follow(const Redirect& next, RequestContext& ctx, int& uri_changes, const ActiveConfig& cfg) {
    Request& req = ctx.request;
    if (--uri_changes == 0) {
        cfg.log_for(ctx).write(LogLevel::error,
                            "rewrite or internal redirection cycle while " +
                                std::string(next.named ? "redirect to named location \"" : "internally redirecting to \"") +
                                next.uri + "\"" + describe(ctx),
                            ctx.connection.id);
        return false;
    }
    req.internal = true;
    req.valid_unparsed_uri = false;
    if (!next.named) {
        req.uri = next.uri;
        req.args = next.args;
        req.args_present = next.args_present;
    }
    return true;
}

}  // namespace

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
    // nginx's page for 302 says "Found" although its status line says "Moved Temporarily".
    const char* text = status == 302 ? "Found" : status_text(status);
    const std::string title = std::to_string(status) + " " + text;
    return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
           "</h1></center>\r\n<hr><center>" + server_header(server_tokens) + "</center>\r\n</body>\r\n</html>\r\n";
}

std::optional<std::string> normalize_uri(std::string_view path, bool merge_slashes) {
    std::string decoded;
    decoded.reserve(path.size());
    auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (path[i] != '%') {
            decoded += path[i];
            continue;
        }
        if (i + 2 >= path.size() || !hex(path[i + 1]) || !hex(path[i + 2])) return std::nullopt;  // nginx: 400
        decoded += static_cast<char>(std::stoi(std::string(path.substr(i + 1, 2)), nullptr, 16));
        i += 2;
    }
    if (decoded.empty() || decoded[0] != '/') return std::nullopt;
    std::vector<std::string_view> segments;
    std::string_view rest(decoded);
    const bool trailing = rest.size() > 1 && rest.back() == '/';
    std::string out;
    std::size_t start = 1;
    while (start <= rest.size()) {
        auto slash = rest.find('/', start);
        std::string_view seg = rest.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (seg == "..") {
            if (segments.empty()) return std::nullopt;
            segments.pop_back();
        } else if (seg == ".") {
        } else if (!seg.empty() || !merge_slashes) {
            segments.push_back(seg);
        }
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    for (const auto& s : segments) out += "/" + std::string(s);
    if (out.empty() || ((trailing || rest.ends_with("/.") || rest.ends_with("/..")) && out.back() != '/')) out += "/";
    return out;
}

void WorkerState::stop() {
    stopping = true;
    for (TimedStream& s : idle) s.close();
    if (connections == 0) wind_down();
}

std::size_t WorkerState::end_sessions() {
    std::vector<ShutdownTarget*> ending;  // each unlinks itself only once its coroutine is done
    for (ShutdownTarget& s : sessions) ending.push_back(&s);
    for (ShutdownTarget* s : ending) s->shutdown_timeout();
    return ending.size();
}

void WorkerState::wind_down() {
    if (shutdown_timer) shutdown_timer->cancel();
    timers.stop_waiting();
}

namespace {

// One client connection: what outlives its requests. Counted in its worker while it
// exists; the last one out ends a graceful stop early.
struct Connection {
    Connection(WorkerState& w, std::shared_ptr<const ActiveConfig> config, ConnectionInfo info, const ServerSelector& s,
               WorkerSocket socket)
        : worker(w), cfg(std::move(config)), conn(std::move(info)), selector(&s),
          stream(std::move(socket), w.timers),
          // Until a Host header picks a server, the address's default server's timeouts apply.
          header_timeout(s.select("").client_header_timeout), idle_timeout(header_timeout) {
        ++worker.connections;
    }
    ~Connection() {
        stream.timed().expires_never();  // before wind_down looks for deadlines left
        if (--worker.connections == 0 && worker.stopping) worker.wind_down();
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    WorkerState& worker;
    std::shared_ptr<const ActiveConfig> cfg;
    ConnectionInfo conn;
    const ServerSelector* selector;
    TransportStream stream;
    bool plain_http = false;  // plain HTTP came to a `listen ... ssl` address: answered 400 (nginx's 497)
    char peeked = 0;          // the first byte waiting to be read, looked at, left in the socket
    std::chrono::milliseconds header_timeout;
    std::chrono::milliseconds idle_timeout;  // until the next request begins
};

// The connection's last answer is out: TLS's close_notify, then the write side shut,
// as nginx closes a connection.
Task<void> finish_writing(TransportStream& stream, std::chrono::milliseconds send_timeout) {
    if (stream.tls_handle()) {
        stream.expires_after(send_timeout);
        co_await stream.async_close_notify(use_tuple);
    }
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

// One request on a connection whose header block (`header_size` bytes, 0 with `rec`
// telling why none came whole) is in the buffer: routed, answered and logged. False:
// close the connection. Its frame lives only while the request does, so an idle
// connection costs little more than its socket.
Task<bool> serve_request(Connection& c, beast::flat_buffer& buffer, std::size_t header_size,
                                    boost::system::error_code rec) {
    std::shared_ptr<const ActiveConfig>& cfg = c.cfg;
    ConnectionInfo& conn = c.conn;
    TransportStream& stream = c.stream;
    std::chrono::milliseconds& idle_timeout = c.idle_timeout;
    const std::uint64_t id = conn.id;
    boost::system::error_code ec;
    std::vector<char> chunk;
    HeaderArena<2048> fields_memory;
    RequestParser parser(std::piecewise_construct, std::make_tuple(), std::make_tuple(fields_memory.allocator()));
    parser.header_limit(4 * kLargeHeaderBuffer);  // large_client_header_buffers 4 8k
    const ServerSelector& selector = *c.selector;
    if (header_size > 0)
        rec = parse_header_block(buffer, header_size, parser);
    else if (!rec)
        rec = http::error::header_limit;
    Request req;
    req.start = std::chrono::system_clock::now();
    RequestContext ctx(conn, req);
    Response resp;
    bool proxied = false;
    const ir::HttpServer* server = &selector.select("");
    const ir::Location* loc = &server->root_location;
    ctx.server = server;
    if (rec) {
        if (rec == beast::error::timeout && buffer.size() > 0) {
            // client_header_timeout on a started request: nginx logs it as 408 and closes.
            std::string_view received(static_cast<const char*>(buffer.data().data()), buffer.size());
            if (const auto eol = received.find("\r\n"); eol != std::string_view::npos) req.request_line = std::string(received.substr(0, eol));
            // nginx has taken the Host line by then (and its server): the log names them.
            for (auto eol = received.find("\r\n"); eol != std::string_view::npos; eol = received.find("\r\n")) {
                received.remove_prefix(eol + 2);
                const std::string_view line = received.substr(0, received.find("\r\n"));
                if (line.size() == received.size()) break;  // not a whole line yet
                if (const auto colon = line.find(':'); colon != std::string_view::npos && iequal(line.substr(0, colon), "host")) {
                    std::string_view value = line.substr(colon + 1);
                    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
                    req.headers.emplace_back("Host", std::string(value));
                    req.host = host_of(value);
                    server = &selector.select(req.host, &ctx.user_variables);
                    ctx.server = server;
                    loc = &server->root_location;
                }
            }
            ctx.status = 408;
            cfg->log_for(ctx).write(LogLevel::info,
                                 "client timed out (110: Connection timed out) while reading client request headers" + describe(ctx), id);
            cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
            co_return false;
        }
        if (rec == http::error::end_of_stream || rec == beast::error::timeout || rec == asio::error::eof ||
            rec == asio::error::connection_reset || buffer.size() == 0)
            co_return false;  // nothing (more) arrived: nginx closes without an answer
        // nginx logs what it got of the request line.
        const std::string_view received(static_cast<const char*>(buffer.data().data()), buffer.size());
        const std::string_view line = received.substr(0, received.find_first_of("\r\n"));
        req.request_line = std::string(line.substr(0, kLargeHeaderBuffer));
        // A request line longer than a large header buffer: 414; other headers too large: 494.
        set_error(resp, rec != http::error::header_limit ? 400 : line.size() + 2 > kLargeHeaderBuffer ? 414 : 494,
                  loc->server_tokens);
    } else {
        ++conn.requests;
        auto& msg = parser.get();
        req.method = std::string(msg.method_string());
        const std::string target(msg.target());
        req.version = msg.version();
        req.request_line = req.method + " " + target + (req.version == 10 ? " HTTP/1.0" : " HTTP/1.1");
        req.request_uri = target;
        bool header_too_large = false;
        for (const auto& f : msg) {
            header_too_large = header_too_large || f.name_string().size() + f.value().size() + 4 > kLargeHeaderBuffer;
            req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        }
        if (const std::string* host = req.header("Host")) req.host = host_of(*host);
        const auto q = target.find('?');
        req.args = q == std::string::npos ? "" : target.substr(q + 1);
        req.args_present = q != std::string::npos;
        auto uri = normalize_uri(std::string_view(target).substr(0, q), true);
        if (req.request_line.size() + 2 > kLargeHeaderBuffer) {
            req.request_line.resize(kLargeHeaderBuffer);
            set_error(resp, 414, loc->server_tokens);
        } else if (header_too_large) {
            set_error(resp, 494, loc->server_tokens);
        } else if (!uri || (req.version == 11 && !req.header("Host"))) {
            set_error(resp, 400, loc->server_tokens);
        } else {
            req.uri = *uri;
            server = &selector.select(req.host, &ctx.user_variables);
            ctx.server = server;
            // ngx_http_process_request's TLS checks, for the server the Host chose.
            int refusal = 0;
            if (c.plain_http) {
                cfg->log_for(ctx).write(LogLevel::info, "client sent plain HTTP request to HTTPS port" + describe(ctx), id);
                refusal = 497;
            } else if (conn.ssl) {
                std::string why;
                refusal = refuse_client(conn.ssl, *server, req.host, why);
                if (refusal) cfg->log_for(ctx).write(LogLevel::info, why + describe(ctx), id);
            }
            drop_ignored_headers(req.headers, *server, selector.select(""));
            apply_real_ip(server->root_location, ctx);  // nginx's post-read phase
            if (req.version == 11 && !refusal)
                if (const std::string* expect = req.header("Expect"); expect && iequal(*expect, "100-continue")) {
                    // nginx answers it as soon as it would read or discard the body: always.
                    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
                    stream.expires_after(server->root_location.send_timeout);
                    auto [cec, cn] = co_await asio::async_write(stream, asio::buffer(kContinue), use_tuple);
                    if (cec) co_return false;
                    ctx.continue_bytes = cn;
                }
            ctx.maps = &cfg->ir->http->maps;
            const std::optional<std::uint64_t> length = parser.content_length() ? std::optional(*parser.content_length()) : std::nullopt;
            int uri_changes = 11;  // NGX_HTTP_MAX_URI_CHANGES + 1
            bool error_page_used = false;
            const ir::Location* named = nullptr;
            // Each round is one pass through nginx's phases; internal redirects (index,
            // try_files, error_page) start another.
            for (;;) {
                // A refused request gets its error (and error_page) at the server level.
                const Route route = refusal ? Route{ctx.location = &server->root_location, {}, std::exchange(refusal, 0)}
                                            : route_request(*server, ctx, length, *cfg, uri_changes, named);
                named = nullptr;
                loc = route.location;
                Redirect next;
                if (route.error) {
                    set_error(resp, route.error, loc->server_tokens);
                } else if (route.script.next == ScriptResult::Next::respond) {
                    answer_return(resp, route.script, *loc, ctx);
                } else if (!access_phases(*loc, ctx)) {
                    cfg->log_for(ctx).write(LogLevel::error, "access forbidden by rule" + describe(ctx), id);
                    set_error(resp, 403, loc->server_tokens);
                } else if (!parser.is_done()) {
                    parser.body_limit(loc->client_max_body_size > 0 ? static_cast<std::uint64_t>(loc->client_max_body_size)
                                                                    : std::numeric_limits<std::uint64_t>::max());
                    boost::system::error_code bec;
                    while (!bec && !parser.is_done()) {
                        stream.expires_after(loc->client_body_timeout);  // between two reads, as nginx
                        std::tie(bec, std::ignore) = co_await http::async_read_some(stream, buffer, parser, use_tuple);
                    }
                    if (bec == http::error::body_limit) {
                        set_error(resp, 413, loc->server_tokens);
                    } else if (bec == beast::error::timeout) {
                        // nginx ends the request with 408 in its log and sends nothing.
                        ctx.status = 408;
                        cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
                        co_return false;
                    } else if (bec) {
                        co_return false;
                    }
                }
                if (resp.status == 200 && !resp.special && route.script.next != ScriptResult::Next::respond &&
                    (!loc->try_files || try_files(*loc->try_files, resp, next, *loc, ctx)) && !next.active) {
                    if (loc->proxy) {
                        const bool client_keep_alive = parser.get().keep_alive() && loc->keepalive_timeout.count() > 0 &&
                                                       conn.requests < static_cast<std::uint64_t>(loc->keepalive_requests);
                        req.body = parser.get().body();
                        req.body_framed = parser.content_length().has_value() || parser.chunked();
                        ProxyResult pr = co_await proxy_http(stream, buffer, *loc, ctx, *cfg, client_keep_alive);
                        if (pr.client_closed) {
                            ctx.status = 499;  // nginx's code for a client that left first
                            cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
                            co_return false;
                        }
                        if (pr.error_status == 0) {
                            // Answered by the upstream: log it and go on, or close.
                            ctx.bytes_sent = pr.bytes_sent + ctx.continue_bytes;
                            ctx.body_bytes_sent = pr.body_bytes_sent + ctx.continue_bytes;
                            cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
                            if (!pr.keep_alive) {
                                co_await finish_writing(stream, loc->send_timeout);
                                co_return false;
                            }
                            proxied = true;
                            break;
                        }
                        set_error(resp, pr.error_status, loc->server_tokens);
                    } else {
                        serve_static(resp, next, *loc, ctx, *cfg);
                    }
                }
                // error_page: once per request unless recursive_error_pages.
                if (resp.special && !error_page_used && !next.active) {
                    for (const auto& page : loc->error_pages) {
                        if (page.status != resp.status) continue;
                        error_page_used = !loc->recursive_error_pages;
                        const std::string target = expand(page.uri, ctx);
                        if (target.starts_with("/") || target.starts_with("@")) {
                            ctx.status_override = page.overwrite >= 0 ? page.overwrite : resp.status;
                            if (req.method != "HEAD") req.method = "GET";
                            if (target.starts_with("@")) {
                                next.active = true;
                                next.uri = target;
                                next.named = find_named(server->locations, target);
                            } else {
                                next = redirect_to(target);
                            }
                        } else {
                            // A URL: a redirect, 302 unless the page says 301/303/307/308.
                            const int code = page.overwrite == 301 || page.overwrite == 303 || page.overwrite == 307 ||
                                                     page.overwrite == 308 ? page.overwrite : 302;
                            const bool close = resp.close;
                            resp = Response{};
                            resp.headers.emplace_back("Location", target);
                            set_error(resp, code, loc->server_tokens);
                            resp.close = close;
                        }
                        break;
                    }
                }
                if (!next.active) break;
                if (next.uri.starts_with("@") && !next.named) {
                    cfg->log_for(ctx).write(LogLevel::error, "could not find named location \"" + next.uri + "\"" + describe(ctx), id);
                    resp = Response{};
                    set_error(resp, 500, loc->server_tokens);
                    break;
                }
                const bool close = resp.close;
                resp = Response{};
                resp.close = close;
                if (!follow(next, ctx, uri_changes, *cfg)) {
                    set_error(resp, 500, loc->server_tokens);
                    break;
                }
                named = next.named;
            }
            if (proxied) {
                idle_timeout = loc->keepalive_timeout;
                co_return true;
            }
            // error_page's status for the page it led to (a bare "=" keeps the page's own).
            if (ctx.status_override && !resp.special && resp.status != ctx.status_override) {
                resp.status = ctx.status_override;
                // nginx sends Last-Modified only with 200/206/304, Accept-Ranges only with 200.
                if (resp.status != 206 && resp.status != 304) resp.last_modified.reset();
                if (resp.status != 200) resp.accept_ranges = false;
            }
        }
    }
    if (resp.status >= 495 && resp.status <= 497) resp.status = 400;  // sent and logged as 400
    ctx.status = resp.status;
    if (resp.close && resp.status == 444) {
        cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
        co_return false;
    }
    const bool keep_alive = !resp.close && !req.method.empty() && !parser.get().need_eof() &&
                            parser.get().keep_alive() && loc->keepalive_timeout.count() > 0 &&
                            conn.requests < static_cast<std::uint64_t>(loc->keepalive_requests);
    const std::time_t now = std::time(nullptr);  // one clock reading for Date and Expires, as nginx
    add_location_headers(resp, *loc, ctx, now);
    ctx.response_headers = resp.headers;
    if (!resp.content_type.empty()) ctx.response_headers.emplace_back("Content-Type", resp.content_type);
    const std::string head = serialize_head(resp, keep_alive, *loc, now);
    const bool head_only = req.method == "HEAD";
    stream.expires_after(loc->send_timeout);
    // Head and body in one write: no small segments for Nagle to hold back.
    const std::size_t body_size = head_only ? 0 : resp.body.size();
    const std::array<asio::const_buffer, 2> parts{asio::buffer(head), asio::buffer(resp.body.data(), body_size)};
    auto [wec, wn] = co_await asio::async_write(stream, parts, use_tuple);
    ctx.bytes_sent = wn + ctx.continue_bytes;
    ctx.body_bytes_sent = (wn > head.size() ? wn - head.size() : 0) + ctx.continue_bytes;
    if (resp.file_fd >= 0) {
        chunk.resize(64 * 1024);
        while (!wec) {
            const ssize_t n = ::read(resp.file_fd, chunk.data(), chunk.size());
            if (n <= 0) break;
            stream.expires_after(loc->send_timeout);
            auto [fec, fn] = co_await asio::async_write(stream, asio::buffer(chunk.data(), static_cast<std::size_t>(n)), use_tuple);
            wec = fec;
            ctx.bytes_sent += fn;
            ctx.body_bytes_sent += fn;
        }
        ::close(resp.file_fd);
    }
    cfg->access_logs->write(loc->access_logs, cfg->ir->http->log_formats, ctx);
    if (wec) co_return false;
    if (!keep_alive) {
        co_await finish_writing(stream, loc->send_timeout);
        co_return false;
    }
    idle_timeout = loc->keepalive_timeout;
    co_return true;
}

void await_request(std::unique_ptr<Connection> c);

// Plain operator new: Asio recycles handler memory for std::allocator, not for this.
template <class T>
struct ExactAllocator {
    using value_type = T;
    ExactAllocator() = default;
    template <class U>
    ExactAllocator(const ExactAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
    template <class U>
    bool operator==(const ExactAllocator<U>&) const noexcept { return true; }
};

// A connection's busy spell: requests, pipelined or not, until none is waiting in the
// buffer; then it waits idle without this frame and without a buffer (nginx frees its
// buffer too). `readable`: the socket has bytes (or TLS may have a record) to read now.
Task<void> serve_connection(std::unique_ptr<Connection> c, bool readable) {
    TransportStream& stream = c->stream;
    beast::flat_buffer buffer;
    for (;;) {
        // nginx ignores empty lines before a request line (after a body, say).
        while (buffer.size() > 0) {
            const char ch = *static_cast<const char*>(buffer.data().data());
            if (ch != '\r' && ch != '\n') break;
            buffer.consume(1);
        }
        if (buffer.size() == 0) {
            if (c->worker.stopping && c->conn.requests > 0) co_return;
            // Nothing known to be there: the connection waits idle, without this frame
            // (the wait's first try sees a next request a busy client has sent already).
            if (!readable && !stream.tls_buffered()) break;
            readable = false;
            if (stream.tls_handle()) {
                // A TLS record may arrive in pieces: its read waits for the rest.
                auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kHeaderBuffer), use_tuple);
                if (ec) co_return;  // closed by the client, or the wait's deadline passed
                buffer.commit(n);
                continue;
            }
            boost::system::error_code ec;
            const std::size_t n = stream.socket().read_some(buffer.prepare(kHeaderBuffer), ec);
            if (ec == asio::error::would_block) break;
            if (ec) co_return;  // closed by the client: nothing to answer
            buffer.commit(n);
            continue;
        }
        readable = false;
        stream.expires_after(c->header_timeout);
        // The header block, read whole (at most 4 large buffers) before Beast parses it.
        boost::system::error_code rec;
        std::size_t header_size = header_block_end(buffer, 0);
        while (header_size == 0 && buffer.size() < 4 * kLargeHeaderBuffer) {
            const std::size_t scanned = buffer.size();
            const std::size_t want = std::min<std::size_t>(kLargeHeaderBuffer, 4 * kLargeHeaderBuffer - scanned);
            auto [ec, n] = co_await stream.async_read_some(buffer.prepare(want), use_tuple);
            buffer.commit(n);
            if (ec) {
                rec = ec;
                break;
            }
            header_size = header_block_end(buffer, scanned);
        }
        if (!co_await serve_request(*c, buffer, header_size, rec)) co_return;
    }
    await_request(std::move(c));
}

// Between requests a connection holds no coroutine and no buffer: the wait's handler owns
// it, and the timeout closes it, or QUIT once a request was served (a new connection is
// not idle in nginx's sense: its first request is served, even after QUIT).
void await_request(std::unique_ptr<Connection> c) {
    TimedStream& stream = c->stream.timed();
    const bool kept_alive = c->conn.requests > 0;
    if (kept_alive) c->worker.idle.push_back(stream);
    stream.expires_after(c->idle_timeout);
    // Sized to the wait itself: Asio's recycled blocks would hand it a larger one, kept
    // for as long as the connection idles.
    const asio::mutable_buffer first = asio::buffer(&c->peeked, 1);  // before `c` moves into the handler
    stream.async_peek(first, asio::bind_allocator(ExactAllocator<void>(), [c = std::move(c), kept_alive](const boost::system::error_code& ec, std::size_t) mutable {
        c->stream.timed().unlist();
        if (ec || (kept_alive && c->worker.stopping)) return;  // closed by the client, the timeout or QUIT
        const auto ex = c->stream.get_executor();
        asio::co_spawn(ex, serve_connection(std::move(c), true), asio::detached);
    }));
}

// A connection to a `listen ... ssl` address (ngx_http_ssl_handshake): its first byte
// tells a TLS handshake from plain HTTP, which is read and answered 400; the handshake
// and the first request share the default server's client_header_timeout.
Task<void> start_tls_connection(std::unique_ptr<Connection> c) {
    TransportStream& stream = c->stream;
    stream.expires_after(c->header_timeout);
    auto [pec, n] = co_await stream.timed().async_peek(asio::buffer(&c->peeked, 1), use_tuple);
    if (pec || n == 0) co_return;  // closed before a byte came
    if (!starts_tls(static_cast<unsigned char>(c->peeked))) {
        c->plain_http = true;
        co_await serve_connection(std::move(c), true);
        co_return;
    }
    SSL* ssl = new_server_ssl(*c->selector, c->conn, *c->cfg->ir->http);
    // The address's default server's error_log, as nginx's connection log before a request.
    const ErrorLog& log = c->cfg->log(c->selector->default_server().root_location.error_log);
    if (!ssl) {
        log.write(LogLevel::alert, "SSL_new() failed", c->conn.id);
        co_return;
    }
    stream.start_tls(ssl);
    auto [hec] = co_await stream.async_handshake(TransportStream::TlsRole::server, use_tuple);
    if (hec) {
        const std::string context = handshake_log_tail(c->conn);
        if (const std::string error = certificate_error(ssl); !error.empty())
            log.write(LogLevel::error, error + context, c->conn.id);
        // nginx logs most handshake failures at info (ngx_ssl_connection_error).
        log.write(LogLevel::info, ssl_call_error("SSL_do_handshake()", hec) + context, c->conn.id);
        co_return;
    }
    c->conn.ssl = ssl;
    co_await serve_connection(std::move(c), true);
}

}  // namespace

void serve_http(WorkerSocket socket, WorkerState& worker, ConnectionInfo conn, const ServerSelector& selector) {
    auto c = std::make_unique<Connection>(worker, worker.config, std::move(conn), selector, std::move(socket));
    if (selector.tls) {
        const auto ex = c->stream.get_executor();
        asio::co_spawn(ex, start_tls_connection(std::move(c)), asio::detached);
    } else
        await_request(std::move(c));
}

}  // namespace ngxlite::runtime
