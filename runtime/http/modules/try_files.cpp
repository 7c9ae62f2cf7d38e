// nginx's try_files.
#include "runtime/http/handlers.hpp"

#include "runtime/http/response.hpp"
#include "runtime/http/router.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace ngxlite::runtime {

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

}  // namespace ngxlite::runtime
