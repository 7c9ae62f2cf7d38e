// Loading a configuration the way nginx does: -p, -c, -g, includes; the result is
// the immutable IR, or nginx's diagnostics.
#pragma once

#include "parser/diagnostics.hpp"
#include "parser/ir/config.hpp"

#include <memory>
#include <string>
#include <vector>

namespace ngxlite::conf {

struct LoadOptions {
    std::string prefix;         // -p; "" means the built-in prefix
    std::string conf_file;      // -c; "" means conf/nginx.conf under the prefix
    std::string globals;        // -g
    std::string error_log;      // -e; "" when not given
    bool test_only = false;     // -t / -T: binds listeners only to check them
};

struct LoadedFile {
    std::string path;
    std::string bytes;
};

struct LoadResult {
    std::shared_ptr<const ir::Config> config;  // null when the load failed
    std::vector<Diagnostic> diagnostics;       // warnings, then the error if any
    std::vector<LoadedFile> files;             // every file read, in order (for -T)
    std::string conf_file;                     // the main file's full path
};

LoadResult load(const LoadOptions& options);

// The prefix ngxlite uses without -p.
const char* default_prefix();
// The -e file under the prefix ("stderr" as is), "" without -e: nginx's first error log,
// before the configuration's, and the main one of a configuration with no file log.
std::string startup_error_log(const LoadOptions& options);
// The access log of an http {} without access_log (as Debian's nginx: its --http-log-path).
const char* default_http_log_path();

}  // namespace ngxlite::conf
