#include "runtime/http/handlers.hpp"

#include "parser/ir/address.hpp"

#include "runtime/http/response.hpp"
#include "runtime/core/net.hpp"
#include "runtime/http/router.hpp"
#include "runtime/core/text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace ngxlite::runtime {

namespace {

// `real_ip_header proxy_protocol`: the client the PROXY protocol header named, port too.
void take_proxy_protocol_addr(RequestContext& ctx) {
    const ProxyProtocol* pp = ctx.connection.proxy_protocol.get();
    if (!pp) return;
    boost::system::error_code ec;
    const auto a = asio::ip::make_address(pp->src_addr, ec);
    if (ec) return;
    ctx.real_addr = a.to_string();
    ctx.real_port = pp->src_port;
}

}  // namespace

// The realip module (ngx_http_get_forwarded_addr): from a trusted peer, the header names the
// client; X-Forwarded-For's last address, or with real_ip_recursive the last one that is
// not trusted. Applied once per request, with the first level that configures it.
void apply_real_ip(const ir::Location& loc, RequestContext& ctx) {
    if (loc.real_ip_from.empty() || !ctx.real_addr.empty() || !first_match(loc.real_ip_from, ctx.connection.remote_addr)) return;
    if (loc.real_ip_header == "proxy_protocol") {
        take_proxy_protocol_addr(ctx);
        return;
    }
    const std::string* value = ctx.request.header(loc.real_ip_header);
    if (!value) return;
    boost::system::error_code ec;
    // ngx_parse_addr_port: a port may follow ("addr:port", "[v6]:port"): $remote_port.
    const auto take = [&](std::string_view text) {
        const auto e = ir::parse_addr_port(text);
        if (!e) return false;
        const auto a = asio::ip::make_address(e->ip, ec);
        if (ec) return false;
        ctx.real_addr = a.to_string();
        ctx.real_port = e->port;
        return true;
    };
    if (!iequal(loc.real_ip_header, "X-Forwarded-For")) {
        take(*value);
        return;
    }
    // Every X-Forwarded-For line, as one list (the last line's last address first).
    std::string joined;
    for (const auto& [k, v] : ctx.request.headers)
        if (iequal(k, "X-Forwarded-For")) joined += (joined.empty() ? "" : ", ") + v;
    std::string_view list = joined;
    std::string_view found;
    for (;;) {
        while (!list.empty() && (list.back() == ' ' || list.back() == ',')) list.remove_suffix(1);
        const auto cut = list.find_last_of(", ");
        const std::string_view last = cut == std::string_view::npos ? list : list.substr(cut + 1);
        const auto e = ir::parse_addr_port(last);
        if (!e) break;
        found = last;
        if (!loc.real_ip_recursive || cut == std::string_view::npos || !first_match(loc.real_ip_from, e->ip)) break;
        list = list.substr(0, cut);
    }
    if (!found.empty()) take(found);
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

std::vector<std::pair<std::string, std::string>> sent_headers(const Response& r) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!r.content_type.empty()) out.emplace_back("Content-Type", r.content_type);
    if (r.content_length && !r.chunked) out.emplace_back("Content-Length", std::to_string(*r.content_length));
    if (r.last_modified && !r.last_modified_listed) out.emplace_back("Last-Modified", std::string(http_date(*r.last_modified)));
    if (!r.location.empty()) out.emplace_back("Location", r.location);
    if (r.chunked) out.emplace_back("Transfer-Encoding", "chunked");
    out.insert(out.end(), r.headers.begin(), r.headers.end());
    if (r.accept_ranges) out.emplace_back("Accept-Ranges", "bytes");
    return out;
}

void add_location_headers(Response& r, const ir::Location& loc, RequestContext& ctx, std::time_t now) {
    // add_header applies to 200, 201, 204, 206, 301, 302, 303, 304, 307, 308 unless `always`.
    static constexpr int kinds[] = {200, 201, 204, 206, 301, 302, 303, 304, 307, 308};
    const bool ok = std::find(std::begin(kinds), std::end(kinds), r.status) != std::end(kinds);
    if (ok)
        if (auto e = expires_headers(loc, r.last_modified, now)) {
            r.headers.emplace_back("Expires", std::move(e->first));
            r.headers.emplace_back("Cache-Control", std::move(e->second));
        }
    // Each value sees the headers added before it ($sent_http_*); Accept-Ranges comes later.
    const bool ranges = std::exchange(r.accept_ranges, false);
    ctx.response_headers = sent_headers(r);
    for (const auto& h : loc.add_headers) {
        if (!ok && !h.always) continue;
        std::string v = expand(h.value, ctx);
        // Last-Modified and ETag replace the answer's own (an empty value removes it), as
        // the headers module's set handlers do; the rest are added.
        const bool last_modified = iequal(h.name, "Last-Modified");
        if (last_modified || iequal(h.name, "ETag")) {
            if (last_modified) {
                r.last_modified = v.empty() ? std::nullopt : parse_http_time(v);
                r.last_modified_listed = !v.empty();
            }
            auto it = std::find_if(r.headers.begin(), r.headers.end(), [&](const auto& x) { return iequal(x.first, h.name); });
            if (v.empty()) {
                if (it != r.headers.end()) r.headers.erase(it);
            } else if (it != r.headers.end()) {
                it->second = v;
            } else {
                r.headers.emplace_back(h.name, v);
            }
            ctx.response_headers = sent_headers(r);
            continue;
        }
        if (v.empty()) continue;
        ctx.response_headers.emplace_back(h.name, v);
        r.headers.emplace_back(h.name, std::move(v));
    }
    r.accept_ranges = ranges;
}

namespace {

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

// The file of `uri` in `loc` (ngx_http_map_uri_to_path): root + URI, or the alias in
// place of the location's prefix (a regex location's alias is the whole path).
// A root or alias with variables is taken from the prefix once evaluated, when relative.
}  // namespace

std::string file_path(const ir::Location& loc, std::string_view uri, const RequestContext& ctx) {
    const auto evaluated = [&](const ir::Template& t) {
        std::string path = expand(t, ctx);
        return path.starts_with('/') ? path : loc.prefix + path;
    };
    if (!loc.alias.empty()) {
        std::string alias = loc.alias_template ? evaluated(*loc.alias_template) : loc.alias;
        if (loc.regex) return alias;
        return alias + std::string(uri.substr(std::min(uri.size(), loc.name.size())));
    }
    return (loc.root_template ? evaluated(*loc.root_template) : loc.root) + std::string(uri);
}

std::string document_root(const ir::Location& loc, const RequestContext& ctx) {
    const auto evaluated = [&](const ir::Template& t) {
        std::string path = expand(t, ctx);
        return path.starts_with('/') ? path : loc.prefix + path;
    };
    if (!loc.alias.empty()) return loc.alias_template ? evaluated(*loc.alias_template) : loc.alias;
    return loc.root_template ? evaluated(*loc.root_template) : loc.root;
}

OpenedFile open_file(const std::string& path, int flags, const ir::Location& loc, const RequestContext& ctx) {
    OpenedFile f;
    auto mode = loc.disable_symlinks;
    std::size_t from = 0;  // the part of the path opened as is (ngx_http_set_disable_symlinks)
    if (mode != ir::Location::Symlinks::off && loc.disable_symlinks_from) {
        const std::string prefix = expand(*loc.disable_symlinks_from, ctx);
        if (!prefix.empty() && prefix.size() <= path.size() && path.compare(0, prefix.size(), prefix) == 0) {
            if (prefix.size() == path.size()) mode = ir::Location::Symlinks::off;
            else if (path[prefix.size()] == '/') from = prefix.size();
            else if (path[prefix.size() - 1] == '/') from = prefix.size() - 1;
        }
    }
    if (mode == ir::Location::Symlinks::off) {
        f.fd = ::open(path.c_str(), flags | O_CLOEXEC);
        if (f.fd < 0) f.err = errno;
        return f;
    }
    // ngx_open_file_wrapper: each directory opened from the last with O_NOFOLLOW (or, for
    // if_not_owner, followed when the link and its target have one owner), then the file.
    f.failed = "openat()";
    const int search = O_PATH | O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    const bool owner = mode == ir::Location::Symlinks::if_not_owner;
    const auto open_at = [&](int at, const std::string& name, int how, bool check_owner) {
        const int fd = ::openat(at, name.c_str(), how | (check_owner ? 0 : O_NOFOLLOW));
        if (fd < 0 || !check_owner) return fd;
        struct stat link {}, target {};
        int err = 0;
        if (::fstatat(at, name.c_str(), &link, AT_SYMLINK_NOFOLLOW) != 0 || ::fstat(fd, &target) != 0) err = errno;
        else if (link.st_uid != target.st_uid) err = ELOOP;
        if (!err) return fd;
        ::close(fd);
        errno = err;
        return -1;
    };
    std::size_t p = 0;
    int at = AT_FDCWD;
    if (from) {
        at = ::open(path.substr(0, from).c_str(), search | O_NONBLOCK);
        f.failed = "open()";
        if (at < 0) {
            f.err = errno;
            return f;
        }
        f.failed = "openat()";
        p = from + 1;
    } else if (!path.empty() && path[0] == '/') {
        at = ::open("/", search | O_NONBLOCK);
        if (at < 0) {
            f.err = errno;
            return f;
        }
        p = 1;
    }
    for (;;) {
        const std::size_t slash = path.find('/', p);
        if (slash == std::string::npos) break;
        if (slash == p) {
            ++p;
            continue;
        }
        const int fd = open_at(at, path.substr(p, slash - p), search | O_NONBLOCK, owner);
        if (fd < 0) {
            f.err = errno;
            if (at != AT_FDCWD) ::close(at);
            return f;
        }
        if (at != AT_FDCWD) ::close(at);
        at = fd;
        p = slash + 1;
    }
    // A trailing slash: the last directory itself, reopened as asked.
    f.fd = p == path.size() ? ::openat(at, ".", flags | O_CLOEXEC) : open_at(at, path.substr(p), flags | O_CLOEXEC, owner);
    if (f.fd < 0) f.err = errno;
    if (at != AT_FDCWD) ::close(at);
    return f;
}

bool file_info(const std::string& path, struct stat& st, const ir::Location& loc, const RequestContext& ctx, OpenedFile* failure) {
    if (loc.disable_symlinks == ir::Location::Symlinks::off) {
        if (::stat(path.c_str(), &st) == 0) return true;
        if (failure) *failure = {-1, errno, "stat()"};
        return false;
    }
    OpenedFile f = open_file(path, O_RDONLY | O_NONBLOCK, loc, ctx);
    if (f.fd < 0) {
        if (failure) *failure = f;
        return false;
    }
    const bool ok = ::fstat(f.fd, &st) == 0;
    ::close(f.fd);
    return ok;
}

std::string escape_uri(std::string_view uri) {
    // ngx_escape_uri's NGX_ESCAPE_URI table.
    return percent_escape(uri, [](unsigned char c) {
        return c <= 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '%' || c == '<' || c == '>' || c == '?' ||
               c == '\\' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}';
    });
}

void set_location(Response& r, const std::string& target, const RequestContext& ctx) {
    // A relative target nginx makes absolute itself goes out early; any other is a header
    // of the list, in its place.
    if (!target.empty() && target[0] == '/' && (!ctx.location || ctx.location->absolute_redirect))
        r.location = absolute_redirect(target, ctx);
    else
        r.headers.emplace_back("Location", target);
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

namespace {

// nginx's index module, for a URI ending in '/': the first index file that exists is an
// internal redirect to it; otherwise 403 for a directory, 404 without one.
void serve_index(Response& r, Redirect& next, const ir::Location& loc, const RequestContext& ctx, const ActiveConfig& cfg) {
    const Request& req = ctx.request;
    const std::string dir = file_path(loc, req.uri, ctx);
    struct stat st {};
    OpenedFile failure;
    int not_found = ENOENT;  // why the first index file was not there: nginx names it
    for (std::size_t i = 0; i < loc.index.size(); ++i) {
        const std::string index = i < loc.index_values.size() ? expand(loc.index_values[i], ctx) : loc.index[i];
        if (index.starts_with("/")) {  // an absolute index is a URI, taken as it is
            next = redirect_to(index);
            next.args = req.args;
            next.args_present = req.args_present;
            return;
        }
        if (file_info(dir + index, st, loc, ctx, &failure)) {
            next = redirect_to(req.uri + index);
            next.args = req.args;
            next.args_present = req.args_present;
            return;
        }
        if (i == 0) not_found = failure.err;
    }
    if (file_info(dir, st, loc, ctx) && S_ISDIR(st.st_mode)) {
        cfg.log_for(ctx).write(LogLevel::error, "directory index of \"" + dir + "\" is forbidden" + describe(ctx), ctx.connection.id);
        set_error(r, 403, loc.server_tokens);
    } else {
        if (loc.log_not_found)
            cfg.log_for(ctx).write(LogLevel::error,
                                   "\"" + dir + loc.index.front() + "\" is not found (" + std::to_string(not_found) + ": " +
                                       std::strerror(not_found) + ")" + describe(ctx),
                                   ctx.connection.id);
        set_error(r, 404, loc.server_tokens);
    }
}

}  // namespace

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
    const OpenedFile opened = open_file(path, O_RDONLY | O_NONBLOCK, loc, ctx);
    const int fd = opened.fd;
    if (fd < 0) {
        const int err = opened.err;
        int status = 500;
        LogLevel level = LogLevel::error;
        switch (err) {
        case ENOENT: case ENOTDIR: case ENAMETOOLONG: status = 404; break;
        case EACCES: case EMLINK: case ELOOP: status = 403; break;
        default: level = LogLevel::crit; break;
        }
        if (status != 404 || loc.log_not_found)
            cfg.log_for(ctx).write(level, std::string(opened.failed) + " \"" + path + "\" failed (" + std::to_string(err) + ": " +
                                              std::strerror(err) + ")" + describe(ctx), ctx.connection.id);
        set_error(r, status, loc.server_tokens);
        return;
    }
    ::fstat(fd, &st);
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        set_location(r, escape_uri(req.uri) + "/" + (req.args.empty() ? "" : "?" + req.args), ctx);
        set_error(r, 301, loc.server_tokens);
        return;
    }
    if (req.method == "POST") {  // only after the file was found, as nginx
        ::close(fd);
        set_error(r, 405, loc.server_tokens);
        return;
    }
    r.status = 200;
    if (r.content_type.empty()) r.content_type = mime_type(loc, path);  // X-Accel-Redirect's kept
    r.content_length = static_cast<std::uint64_t>(st.st_size);
    r.last_modified = st.st_mtime;
    if (loc.etag) {
        char etag[64];
        std::snprintf(etag, sizeof etag, "\"%lx-%lx\"", static_cast<unsigned long>(st.st_mtime),
                      static_cast<unsigned long>(st.st_size));
        r.headers.emplace_back("ETag", etag);
    }
    r.accept_ranges = true;
    if (req.method == "HEAD")
        ::close(fd);
    else
        r.file_fd = fd;
}

// nginx's try_files phase: the first file (or directory, for a name ending in '/') that
// exists becomes the URI and the location goes on; else =CODE, @name or a URI.
// Returns true when the location's content handler should run.
bool try_files(const ir::TryFiles& tf, Response& r, Redirect& next, const ir::Location& loc, RequestContext& ctx,
               const ActiveConfig& cfg) {
    for (const auto& file : tf.files) {
        const std::string name = expand(file, ctx);
        const bool test_dir = !name.empty() && name.back() == '/';
        struct stat st {};
        OpenedFile failure;
        std::string path = file_path(loc, name, ctx);
        if (test_dir && path.size() > 1) path.pop_back();  // the directory itself, as nginx tests it
        if (!file_info(path, st, loc, ctx, &failure)) {
            if (failure.err != ENOENT && failure.err != ENOTDIR && failure.err != ENAMETOOLONG)
                cfg.log_for(ctx).write(LogLevel::crit, std::string(failure.failed) + " \"" + path + "\" failed (" +
                                                           std::to_string(failure.err) + ": " + std::strerror(failure.err) + ")" +
                                                           describe(ctx), ctx.connection.id);
            continue;
        }
        if (S_ISDIR(st.st_mode) != test_dir) continue;
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
        set_location(r, ret.text, ctx);
        set_error(r, ret.status, loc.server_tokens);
    } else if (ret.has_text) {
        // ngx_http_set_content_type keeps one already set (X-Accel-Redirect's).
        if (r.content_type.empty()) r.content_type = mime_type(loc, ctx.request.uri);
        r.body = ret.text;
        r.content_length = r.body.size();
    } else if (ret.status >= 300) {
        set_error(r, ret.status, loc.server_tokens);
    } else {
        // ngx_http_send_response; a 204 loses both in the header filter, unless
        // error_page gives the answer another status.
        if (r.content_type.empty()) r.content_type = mime_type(loc, ctx.request.uri);
        r.content_length = 0;
    }
}

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
            m = find_location(server, ctx.request.uri);
        }
        route.location = m.location ? m.location : &server.root_location;
        if (m.regex) {  // a regex location matched (a location nested in it may have won)
            ctx.set_named_captures(*m.regex, m.captures);
            ctx.captures = std::move(m.captures);
        }
        const ir::Location& loc = *route.location;
        ctx.location = &loc;
        if (loc.internal && !ctx.request.internal) {
            route.error = 404;
            return route;
        }
        if (content_length && loc.client_max_body_size > 0 && *content_length > static_cast<std::uint64_t>(loc.client_max_body_size)) {
            cfg.log_for(ctx).write(LogLevel::error,
                                "client intended to send too large body: " + std::to_string(*content_length) + " bytes" + describe(ctx),
                                ctx.connection.id);
            route.error = 413;
            return route;
        }
        // limit_except: a method it does not allow gets the block's settings (nginx's
        // ngx_http_update_location_config), and no rewrite script runs there.
        if (loc.limit_except && !(loc.limit_except_methods & ir::method_bit(ctx.request.method))) {
            route.location = ctx.location = loc.limit_except.get();
            route.script = {};
            return route;
        }
        if (m.redirect) {
            route.error = 301;
            route.redirect = escape_uri(loc.name) + (ctx.request.args.empty() ? "" : "?" + ctx.request.args);
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
    // nginx clears every module's context: $proxy_host and $proxy_port are not found after.
    ctx.proxying = false;
    ctx.proxy_host.clear();
    ctx.proxy_port.clear();
    if (!next.named) {
        req.uri = next.uri;
        req.args = next.args;
        req.args_present = next.args_present;
    }
    return true;
}

}  // namespace ngxlite::runtime
