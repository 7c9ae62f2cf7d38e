// nginx's rewrite module at run time: a level's script (rewrite, return, set, if, break)
// run in config order against one request.
#pragma once

#include "runtime/http/request.hpp"

#include <string>
#include <vector>

namespace ngxlite::runtime {

struct ScriptResult {
    enum class Next {
        go_on,          // the script ended: the request goes on where it is
        stop,           // `break`, or `rewrite ... break|last` in a server
        find_location,  // `rewrite ... last`, or a location's script changed the URI
        respond,        // `return`, or a redirecting rewrite
    } next = Next::go_on;
    int status = 0;           // respond: the status
    std::string text;         // respond: the body, or the redirect target
    bool has_text = false;    // respond: `return code` without text has none
    // An `if` that held in a location: its block's settings serve the request.
    const ir::Location* location = nullptr;
};

// Runs `script`. URI and argument changes go to ctx.request; `set` to ctx's variables.
ScriptResult run_script(const std::vector<ir::RewriteOp>& script, RequestContext& ctx);

}  // namespace ngxlite::runtime
