// nginx's static and index modules, and what they share with try_files and the
// variables: a URI's file (ngx_http_map_uri_to_path), $document_root, the open file
// wrapper (disable_symlinks) and the types {} of a path.
#include "runtime/http/handlers.hpp"

#include "runtime/http/response.hpp"
#include "runtime/core/text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ngxlite::runtime {

// The type for a path's extension: the types {} in force, or nginx's built-in three.
const std::string& mime_type(const ir::Location& loc, std::string_view path) {
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
        r.headers.add("ETag", etag);
    }
    r.accept_ranges = true;
    if (req.method == "HEAD") {
        ::close(fd);
    } else {
        r.file_fd = fd;
        r.file_size = st.st_size;
    }
}

}  // namespace ngxlite::runtime
