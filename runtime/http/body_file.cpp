// Request bodies kept in temporary files (client_body_temp_path, client_body_in_file_only),
// named as nginx names them.
#include "runtime/http/handlers.hpp"

#include "runtime/http/response.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ngxlite::runtime {

std::uint64_t next_temp_number() {
    static std::atomic<std::uint64_t> number{1};
    return number++;
}

namespace {

// ngx_create_hashed_filename: each level's directory named by the name's last digits.
std::string hashed_name(const ir::Location& loc, const std::string& name) {
    std::string path = loc.client_body_temp_path;
    std::size_t end = name.size();
    for (int level : loc.client_body_temp_levels) {
        end -= static_cast<std::size_t>(level);
        path += "/" + name.substr(end, static_cast<std::size_t>(level));
    }
    return path + "/" + name;
}

// The directories of a hashed name, made as nginx's ngx_create_full_path does.
void make_dirs(const std::string& file) {
    for (std::size_t slash = file.find('/', 1); slash != std::string::npos; slash = file.find('/', slash + 1))
        ::mkdir(file.substr(0, slash).c_str(), 0700);
}

}  // namespace

bool write_body_file(const ir::Location& loc, RequestContext& ctx, bool chunked, const ActiveConfig& cfg) {
    Request& req = ctx.request;
    const bool only = loc.client_body_in_file_only != ir::Location::BodyInFile::off;
    // A Content-Length body under a quarter more than the buffer is read whole into one.
    const auto size = static_cast<std::uint64_t>(std::max<std::int64_t>(loc.client_body_buffer_size, 1));
    if (!only && req.body.size() <= (chunked ? size : size + size / 4 - 1)) return true;
    int fd = -1;
    std::string path;
    for (int tries = 0; fd < 0 && tries < 1000; ++tries) {
        char name[16];
        std::snprintf(name, sizeof name, "%010u", static_cast<unsigned>(next_temp_number() % 4294967296u));
        path = hashed_name(loc, name);
        fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0 && errno == ENOENT) {
            make_dirs(path);
            fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        }
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        const int err = errno;
        cfg.log_for(ctx).write(LogLevel::crit, "open() \"" + path + "\" failed (" + std::to_string(err) + ": " +
                                                   std::strerror(err) + ")" + describe(ctx), ctx.connection.id);
        return false;
    }
    for (std::size_t done = 0; done < req.body.size();) {
        const ssize_t n = ::write(fd, req.body.data() + done, req.body.size() - done);
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            ::unlink(path.c_str());
            cfg.log_for(ctx).write(LogLevel::crit, "write() \"" + path + "\" failed (" + std::to_string(err) + ": " +
                                                       std::strerror(err) + ")" + describe(ctx), ctx.connection.id);
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    cfg.log_for(ctx).write(only ? LogLevel::notice : LogLevel::warn,
                           "a client request body is buffered to a temporary file " + path + describe(ctx), ctx.connection.id);
    req.body_file = std::move(path);
    return true;
}

}  // namespace ngxlite::runtime
